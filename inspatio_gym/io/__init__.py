"""Files in and out, shared by every layer: video decoding, atomic writes, MP4/PNG writers.

Imports nothing else of the project, so world/, recon/, model/ and train/ can all use it.
"""
