"""The request body of ``audio-normalize``: the input and the EBU R128 targets."""

from render_core.plugin import Integer, Number, Schema, String, Url

SCHEMA = Schema({
    "audio_url": Url(required=True, description="URL of the audio (or of a video whose sound to use)."),
    "target_lufs": Number(default=-16.0, minimum=-40.0, maximum=-5.0,
                          description="Integrated loudness to reach, in LUFS (EBU R128 broadcast: -23; "
                                      "podcasts and streaming: -16 to -14)."),
    "true_peak_db": Number(default=-1.5, minimum=-9.0, maximum=0.0,
                           description="Highest true peak allowed, in dBTP."),
    "loudness_range_lu": Number(default=11.0, minimum=1.0, maximum=20.0,
                                description="Loudness range to keep within, in LU."),
    "format": String(default="mp3", choices=("mp3", "wav"),
                     description="Output: MP3 (bitrate_kbps) or 16-bit PCM WAV, both 48 kHz."),
    "bitrate_kbps": Integer(default=192, minimum=64, maximum=320, description="MP3 bitrate in kbit/s."),
}, description="Normalize the loudness of an audio file to EBU R128 targets.")
