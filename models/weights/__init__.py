"""Trained model weights shipped with the code (JSON; see tools/train_*.py and docs/face.md)."""
