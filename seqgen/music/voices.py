"""The voices level: music in parts that are single lines (chorales, madrigals, quartets), one frame per grid step.

Why: at the notes level a part is a stream of (pitch, duration) events, and nothing stops a model from stacking
three notes in a soprano or drifting a step off the beat; sampled chorales turned into chord stacks after four bars.
Here, as in BachBot (Liang et al., 2017), time is a fixed grid (the corpus's shortest note by default) and each step
is one frame: every part in a fixed order, each a pitch that starts (`C4`), a pitch held from the frame before
(`C4~`) or a rest, then `|`. A part holds one note at a time by construction and every rhythm is on the grid; bar
lines are tokens (`bar`) so the model knows where it is in the bar, and `fermata` opens a frame whose notes the
score marks with one (a chorale's phrase endings), as BachBot marks them.

    <bos> ts:4/4 bar C5 E4 G3 C3 | C5~ E4~ G3~ C3~ | D5 F4 ... | bar fermata C5 E4 G3 C3 | ... <eos>

A sample is harmonized by forcing one part's tokens (`sample --harmonize`): the part comes first in each frame when
it is the top voice, so the model writes the others around what that frame's melody note is. And a sample keeps two
rules of part-writing the model alone breaks (`VoiceLeading`): no parallel fifths or octaves, no crossed parts.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Iterable, Sequence

from seqgen.errors import UsageError
from seqgen.music.tokens import BOS, EOS, REST, Clock, MusicTokenizer, Note, Piece, bar_steps, parse_pitch, pitch_name

if TYPE_CHECKING:
    import torch

FRAME, BAR, HOLD, FERMATA = "|", "bar", "~", "fermata"
GRIDS = (1, 2, 3, 4, 6, 12)  # steps per quarter a corpus's grid may take, coarsest first (all divide 12 and 480)
ON_GRID = 0.995  # the coarsest grid that holds this share of the onsets and durations is the corpus's


def hold(token: str) -> str:
    return token + HOLD


def corpus_grid(onsets_and_durations: Iterable[int], fine: int = 12) -> int:
    """The coarsest grid (steps per quarter) on which ON_GRID of these times, counted in 1/`fine` quarters, fall."""
    times = Counter(onsets_and_durations)
    total = sum(times.values())
    for spq in GRIDS:
        step = fine // spq
        if total == 0 or sum(n for t, n in times.items() if t % step == 0) >= ON_GRID * total:
            return spq
    return fine


class VoicesTokenizer(MusicTokenizer):
    """`<bos> ts:N/D (bar? fermata? (PITCH | PITCH~ | rest){parts} |)* <eos>`: one frame per grid step, the parts in order."""

    level = "voices"

    @classmethod
    def make_settings(cls, steps_per_quarter: int = 4, velocity_bins: int = 0, tracks: list[str] | None = None,
                      drums: bool = False, key_normalize: bool = False, parts: str = "track") -> dict:
        if drums:
            raise UsageError("--drums is for the notes level: a voice is pitched")
        if velocity_bins:
            raise UsageError("--velocity-bins is for the notes level: the voices level keeps no dynamics")
        return super().make_settings(steps_per_quarter, 0, tracks, False, key_normalize, "track")

    @classmethod
    def always_tokens(cls, settings: dict) -> list[str]:
        return [FRAME, BAR, REST, FERMATA]

    @property
    def voices(self) -> int:
        return sum(not p.drum for p in self.table.parts) if self.table is not None else 1

    def tokens_per_bar(self, time_signature: tuple[int, int]) -> int:
        """Tokens a bar takes: one frame (the parts and `|`) per step, and the bar line."""
        return bar_steps(time_signature, self.spq) * (self.voices + 1) + 1

    # -- songs -> pieces: every part one line

    def extract(self, song, fallback: bool = False):
        """As the notes level extracts it, then each part made one line: at an onset where a part has several notes
        the top one stays (the bottom one in the lowest part), and a note ends where its part's next one starts."""
        ex = super().extract(song, fallback)
        lowest = by_pitch(self)[-1] if self.table is not None else None
        lines: dict[int, list[Note]] = {}
        for n in sorted(ex.piece.notes, key=lambda n: (n.part, n.start, -n.pitch if n.part != lowest else n.pitch)):
            line = lines.setdefault(n.part, [])
            if line and line[-1].start == n.start:
                ex.dropped["a second note at once in one voice"] += 1
                continue
            if line and line[-1].start + line[-1].dur > n.start:
                line[-1] = line[-1]._replace(dur=n.start - line[-1].start)
                ex.shortened["cut by its voice's next note"] += 1
            line.append(n)
        ex.piece.notes = sorted((n for line in lines.values() for n in line), key=lambda n: (n.start, n.part))
        return ex

    # -- pieces <-> tokens

    def encode_piece(self, piece: Piece) -> list[str]:
        num, den = piece.time_signature
        bar, voices = bar_steps(piece.time_signature, self.spq), self.voices
        frames = [[REST] * voices for _ in range(piece.end())]
        for n in piece.notes:
            if n.drum or not 0 <= n.part < voices:
                continue
            name = pitch_name(n.pitch)
            for step in range(n.start, n.start + n.dur):
                frames[step][n.part] = name if step == n.start else hold(name)
        toks = [BOS, f"ts:{num}/{den}"]
        held = set(piece.fermatas)
        for step, frame in enumerate(frames):
            if step % bar == 0:
                toks.append(BAR)
            if step in held:
                toks.append(FERMATA)
            toks += frame
            toks.append(FRAME)
        toks.append(EOS)
        return toks

    def clock(self) -> "VoicesDecoder":
        return VoicesDecoder(self)

    def voice_leading(self, rows: int, context: Sequence[int]) -> "VoiceLeading":
        """The part-writing rule for `rows` samples that each continue the ids `context`."""
        rule = VoiceLeading(self.vocab.tokens, self.voices, rows, by_pitch(self))
        for i in context:
            rule.feed([i] * rows)
        return rule


class VoicesDecoder(Clock):
    """Reads voices tokens one at a time into notes (`cursor` is the frame reached, for --bars). Whatever the tokens,
    each part sounds one note at a time: a frame's first token is the first part's, and so on; tokens past the last
    part wait for the frame's end, and parts a frame leaves out rest."""

    def __init__(self, tok: VoicesTokenizer):
        super().__init__(tok)
        self.voices = tok.voices
        self.slot = 0  # the part the next pitch, hold or rest is for
        self.sounding: list[int | None] = [None] * self.voices  # each part's note (index in piece.notes) still held
        self.filled: list[bool] = [False] * self.voices

    def feed(self, tok: str) -> None:
        if tok == BOS:
            self.next_piece()
            self._new_frame(hold_nothing=True)
            return
        if tok == EOS:  # the piece ends with this frame (a frame it leaves open is closed)
            self.cursor += self.slot > 0
            self._new_frame(hold_nothing=True)
            return
        if self.read_time_signature(tok):
            return
        if tok == FRAME:
            self.cursor += 1
            self._new_frame()
            return
        if tok == FERMATA:
            if not self.piece.fermatas or self.piece.fermatas[-1] != self.cursor:
                self.piece.fermatas.append(self.cursor)
            return
        if tok == BAR or self.slot >= self.voices:
            return
        part, self.slot = self.slot, self.slot + 1
        self.filled[part] = True
        if tok == REST:
            self.sounding[part] = None
            return
        held = tok.endswith(HOLD)
        pitch = parse_pitch(tok[:-1] if held else tok)
        if pitch is None:
            self.sounding[part] = None
            return
        notes, index = self.piece.notes, self.sounding[part]
        if held and index is not None and notes[index].pitch == pitch and notes[index].start + notes[index].dur == self.cursor:
            notes[index] = notes[index]._replace(dur=notes[index].dur + 1)
            return
        notes.append(Note(self.cursor, 1, pitch, 80, False, part))  # a new note (or a hold of a note not sounding)
        self.sounding[part] = len(notes) - 1

    def _new_frame(self, hold_nothing: bool = False) -> None:
        for part in range(self.voices):
            if hold_nothing or not self.filled[part]:
                self.sounding[part] = None
        self.slot, self.filled = 0, [False] * self.voices


def by_pitch(tok: VoicesTokenizer) -> list[int]:
    """The run's parts, highest first by mean pitch (Soprano … Bass): a tune goes to the first, a chord's lowest
    note to the last."""
    parts = [(-p.pitch, i) for i, p in enumerate(tok.table.parts) if not p.drum] if tok.table is not None else []
    return [i for _, i in sorted(parts)] or [0]


def harmony_skeleton(tok: VoicesTokenizer, melody: Piece) -> tuple[list[str], list[str | None]]:
    """A melody to harmonize as (the context: `<bos>` and the time signature; then every token after it, or None
    where the model writes a part). Given: the bar marks, the frame ends and, in the top part's place of every frame,
    the melody's pitch, hold or rest."""
    top = by_pitch(tok)[0]
    line = Piece(melody.name, [n._replace(part=top, drum=False) for n in melody.notes], melody.time_signature, melody.tempo, melody.key)
    tokens = tok.encode_piece(line)
    schedule: list[str | None] = []
    slot = 0
    for token in tokens[2:]:
        if token in (BAR, FRAME, EOS, FERMATA):
            schedule.append(token)
            slot = 0 if token == FRAME else slot
            continue
        schedule.append(token if slot == top else None)
        slot += 1
    return tokens[:2], schedule


def is_voice_token(token: str) -> bool:
    """A token that fills one part's place in a frame: a pitch, a held pitch or a rest."""
    return token == REST or parse_pitch(token[:-1] if token.endswith(HOLD) else token) is not None


PERFECT = (0, 7)  # interval classes that may not be repeated by two parts moving together: octave (or unison), fifth


class VoiceLeading:
    """A sampler's rule (`seqgen.models.generate.Rule`) for voices runs: two rules of part-writing that a model
    trained on Bach's chorales still breaks, about 14 times as often as Bach for parallels (benchmarks/music.md), and
    that a musician hears or sees at once.

    - No parallel fifths or octaves, as `seqgen.music.stats.voice_leading` counts them in the written file: from one
      onset to the next, two parts that both move, in the same direction, from a perfect fifth to a perfect fifth or
      from an octave (or unison) to an octave, compound intervals alike.
    - No crossing: a part never sounds above the part over it (`order`, highest first) in the same frame.

    Each pair of parts is checked when the later of the two in the frame is drawn: the pitches that would break a rule
    are banned (the note and its held form), so the draw is among the model's other choices. A rest is never banned."""

    def __init__(self, tokens: Sequence[str], voices: int, rows: int, order: Sequence[int] | None = None):
        self.voices = voices
        self.tokens = list(tokens)
        self.fills = [is_voice_token(t) for t in self.tokens]  # a part's place in the frame (the time signature is not)
        self.held = [t.endswith(HOLD) for t in self.tokens]
        self.pitch = [parse_pitch(t[:-1] if held else t) if fills and t != REST else None for t, held, fills in zip(self.tokens, self.held, self.fills)]
        ids_of: dict[int, list[int]] = {}
        for i, pitch in enumerate(self.pitch):
            if pitch is not None:
                ids_of.setdefault(pitch, []).append(i)
        self.ids_of = ids_of
        order = list(order) if order is not None else list(range(voices))
        # each part's neighbours: (the part over it, the part under it), None at the ends
        self.neighbours = {part: (order[k - 1] if k else None, order[k + 1] if k + 1 < len(order) else None) for k, part in enumerate(order)}
        self.rows = [_Lines(voices) for _ in range(rows)]

    def feed(self, ids: Sequence[int]) -> None:
        for lines, i in zip(self.rows, ids):
            token = self.tokens[i]
            if token in (BOS, EOS):
                lines.break_off()
            elif token == FRAME:
                lines.end_frame()
            elif self.fills[i]:
                lines.write(self.pitch[i], self.held[i])

    def banned(self) -> torch.Tensor | None:
        import torch

        out = None
        for r, lines in enumerate(self.rows):
            for pitch in lines.banned_pitches(self.ids_of, self.neighbours):
                if out is None:
                    out = torch.zeros(len(self.rows), len(self.tokens), dtype=torch.bool)
                out[r, self.ids_of[pitch]] = True
        return out


class _Lines:
    """One sample's parts as `VoiceLeading` follows them, frame by frame (as `VoicesDecoder` reads them)."""

    def __init__(self, voices: int):
        self.voices = voices
        self.sounding: list[int | None] = [None] * voices  # each part's pitch in the frame before
        self.before: list[int | None] | None = None  # each part's pitch at the last frame where a note started
        self._new_frame()

    def _new_frame(self) -> None:
        self.slot, self.frame, self.onset = 0, [None] * self.voices, False

    def write(self, pitch: int | None, held: bool) -> None:
        if self.slot >= self.voices:  # past the last part: the decoder ignores it
            return
        part, self.slot = self.slot, self.slot + 1
        self.frame[part] = pitch
        self.onset |= pitch is not None and not (held and self.sounding[part] == pitch)

    def end_frame(self) -> None:
        if self.onset:
            self.before = list(self.frame)
        self.sounding = list(self.frame)
        self._new_frame()

    def break_off(self) -> None:
        """`<eos>` or `<bos>`: the frame ends and nothing is held over, but a sample that goes on writes the next
        piece after this one in the same file, so its first chord still follows this one's last."""
        if self.slot:
            self.end_frame()
        self.sounding = [None] * self.voices
        self._new_frame()

    def banned_pitches(self, pitches: Iterable[int], neighbours: dict[int, tuple[int | None, int | None]]) -> set[int]:
        """The pitches the part drawn next may not take."""
        part = self.slot
        if part >= self.voices:
            return set()
        out: set[int] = set()
        over, under = neighbours.get(part, (None, None))
        if over is not None and over < part and self.frame[over] is not None:
            out.update(p for p in pitches if p > self.frame[over])  # type: ignore[operator]
        if under is not None and under < part and self.frame[under] is not None:
            out.update(p for p in pitches if p < self.frame[under])  # type: ignore[operator]
        mine = self.before[part] if self.before is not None else None
        if mine is None:
            return out
        for other in range(part):
            now, then = self.frame[other], self.before[other]  # type: ignore[index]
            if now is None or then is None or now == then:
                continue
            interval = abs(then - mine) % 12
            if interval in PERFECT:
                up = now > then
                out.update(p for p in pitches if (p > mine if up else p < mine) and abs(now - p) % 12 == interval)
        return out
