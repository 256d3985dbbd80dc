"""Each kind of data in one place: text, music, encoder-decoder pairs, melody -> chords, piano-roll frames (`registry`)."""
