// Recognizer — filled in by its owner.
