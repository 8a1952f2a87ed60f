// FaceCrop — filled in by its owner.
