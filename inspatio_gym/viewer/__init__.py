"""Walking through a world live: the desktop window (play) and the browser viewer (serve).

Both sit on top of the envs: keys become continuous actions (viewer.keys), each frame is
shown with an overlay of pose, time, coverage and backend, and a recording becomes an MP4.
"""
