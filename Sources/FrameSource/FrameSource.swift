// FrameSource — filled in by its owner.
