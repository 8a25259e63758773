"""What every stage means by a face. Today: the FaceElement format (:mod:`.element`)."""
