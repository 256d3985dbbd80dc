"""English -> French sentence pairs from this machine's gettext catalogues (issue 12's real translation task).

    python benchmarks/gettext_pairs.py --out /tmp/en-fr.tsv      # prints what was kept and dropped

Every `.mo` file under /usr/share/locale/fr/LC_MESSAGES and the French catalogues of vim, but the iso-codes ones
(`iso_*.mo`: 30,000 names of languages, countries, regions and currencies, not sentences), is parsed here with
`struct` (the GNU gettext manual, "The Format of GNU MO Files": a magic number, a revision, the number of strings N,
the offsets of two tables of N (length, offset) entries, original strings then translations). What is kept:

- one line each side (a single trailing newline is dropped), not the catalogue's header (the empty msgid);
- the singular of a plural entry (msgid and msgstr[0]); a message context (`ctxt\\x04msgid`) is dropped;
- keyboard accelerators removed: a lone `_` or `&` before a letter (`_File` -> `File`, `&Ouvrir` -> `Ouvrir`);
- at least two letters outside format directives (`%s`, `%1$d`, `%(name)s`, `{0}`), so format-only strings go;
- 1 to 12 words and at most 80 characters on the English side, at most 120 characters on the French side;
- English different from French (an identical "translation" is most often a message left untranslated);
- one translation per English message: the commonest across catalogues (ties: the first catalogue by name), so
  the same English never sits in training and test with two answers.

The data is never committed: it is this machine's, and a reader reruns this script on theirs.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterator

CATALOGUES = ("/usr/share/locale/fr/LC_MESSAGES", "/usr/share/vim")
MAGIC = 0x950412DE
FORMAT = re.compile(r"%(\d+\$)?[-+ #0']*(\*|\d+)?(\.(\*|\d+))?(hh|h|ll|l|L|q|j|z|t|I64)?[a-zA-Z%]|%\([^)]*\)[a-z]|\{[^}]*\}|\$\{[^}]*\}")
ACCEL = re.compile(r"(?<![\w&_])[_&](?=[^\W\d_])")  # `_File`, `&Open`: a lone marker before a letter


def mo_entries(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(msgid, msgstr) byte strings of a .mo file, in its order; a file that is not one yields nothing."""
    if len(data) < 20:
        return
    for order in ("<", ">"):
        magic, revision, count, originals, translations = struct.unpack_from(order + "5I", data)
        if magic == MAGIC:
            break
    else:
        return
    if revision >> 16 > 1:  # a major revision this parser does not know
        return
    for i in range(count):
        olen, ooff = struct.unpack_from(order + "2I", data, originals + 8 * i)
        tlen, toff = struct.unpack_from(order + "2I", data, translations + 8 * i)
        yield data[ooff : ooff + olen], data[toff : toff + tlen]


def charset(data: bytes) -> str:
    """The catalogue's charset from its header entry (UTF-8 when it names none)."""
    for msgid, msgstr in mo_entries(data):
        if msgid == b"":
            found = re.search(rb"charset=([-\w]+)", msgstr)
            return found.group(1).decode("ascii") if found else "utf-8"
    return "utf-8"


def clean(text: str) -> str | None:
    """One message made plain, or None when it is not a usable sentence."""
    if text.endswith("\n"):
        text = text[:-1]
    if "\n" in text or "\t" in text or "\r" in text:
        return None
    if len(ACCEL.findall(text)) == 1:
        text = ACCEL.sub("", text)
    text = " ".join(text.split())
    if sum(c.isalpha() for c in FORMAT.sub("", text)) < 2:
        return None
    return text


def keep(english: str, french: str) -> str | None:
    """Why a pair is dropped, or None to keep it."""
    if english == french:
        return "identical"
    if not 1 <= len(english.split()) <= 12 or len(english) > 80 or len(french) > 120:
        return "length"
    return None


def gettext_pairs(roots=CATALOGUES) -> tuple[list[tuple[str, str]], Counter, int]:
    """The kept (english, french) pairs, the drop reasons, and how many catalogues were read."""
    files = sorted(p for root in roots for p in Path(root).rglob("*.mo") if "/fr/" in str(p) and not p.name.startswith("iso_"))
    dropped: Counter = Counter()
    choices: dict[str, Counter] = defaultdict(Counter)
    first: dict[tuple[str, str], int] = {}
    for n, path in enumerate(files):
        data = path.read_bytes()
        encoding = charset(data)
        for msgid, msgstr in mo_entries(data):
            if msgid == b"" or msgstr == b"":
                dropped["header or untranslated"] += 1
                continue
            msgid = msgid.split(b"\x04", 1)[-1].split(b"\x00", 1)[0]  # no context; the singular of a plural
            msgstr = msgstr.split(b"\x00", 1)[0]
            try:
                english, french = clean(msgid.decode(encoding)), clean(msgstr.decode(encoding))
            except (UnicodeDecodeError, LookupError):
                dropped["undecodable"] += 1
                continue
            if english is None or french is None:
                dropped["several lines or format only"] += 1
                continue
            reason = keep(english, french)
            if reason:
                dropped[reason] += 1
                continue
            choices[english][french] += 1
            first.setdefault((english, french), n)
    pairs = []
    for english, counts in choices.items():
        french = min(counts, key=lambda f: (-counts[f], first[(english, f)]))
        pairs.append((english, french))
        dropped["another translation of the same English"] += sum(counts.values()) - 1
    pairs.sort()
    return pairs, dropped, len(files)


def write_tsv(pairs: list[tuple[str, str]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{e}\t{f}\n" for e, f in pairs), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the TSV file to write (english<TAB>french per line)")
    args = parser.parse_args(argv)
    pairs, dropped, files = gettext_pairs()
    write_tsv(pairs, args.out)
    print(f"{len(pairs):,} pairs from {files} catalogues -> {args.out}", file=sys.stderr)
    for reason, n in dropped.most_common():
        print(f"  dropped {n:,}: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
