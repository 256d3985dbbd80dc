"""Music: note events read from MIDI (mido) and scores (music21), the music token schemes, `prepare` and
`sample` for music, and music statistics."""
