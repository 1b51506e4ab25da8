"""Voice pipeline workers: vad -> stt -> retrieve -> llm -> tts."""
