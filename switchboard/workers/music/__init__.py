"""Music pipeline: corpus -> MIDI + metadata -> embeddings -> tokens -> model."""
