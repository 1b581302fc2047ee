"""Voice: push-to-talk speech input and spoken replies. No Textual here; the UI drives these pieces.

``audio`` records and plays through PyAudio, ``wav`` holds the PCM helpers, ``stt`` turns speech into text (the
endpoint's ``/v1/audio/transcriptions`` or local faster-whisper), ``tts`` turns text into speech (the endpoint's
``/v1/audio/speech`` or ``espeak-ng``), ``speakable`` picks what of a streamed reply is read aloud, ``narrator``
speaks sentences in order while the reply still streams, and ``setup`` chooses the paths for a session.
"""

SAMPLE_RATE = 16_000  # Hz, mono, 16-bit: what Whisper expects and what push-to-talk records
