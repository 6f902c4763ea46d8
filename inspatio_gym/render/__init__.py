"""The explicit spatial constraint as pictures: a world's reference frames rendered at a camera.

`WarpRenderer` splats the time-aligned reference frame (fused with its neighbours) into the
requested camera; `condition` turns that render and its coverage mask into the generator's
condition. The warp backend, the STAR backend, the training pairs and ImageNav's goal image
all render through here, so they see the same thing.
"""
