// Pipeline — filled in by its owner.
