"""On-device face models: detection, landmarks, smile, embedding, gallery search, model manifest."""
