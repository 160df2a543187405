"""The built-in synthetic dark-action data set (`darkedge data synth`), one idea per module:

actions.py   ARID's eleven actions as keyframed poses over time
figure.py    the articulated figure that performs them, and how it is drawn
props.py     the objects some actions use (a cup, a chair, a box)
scene.py     rooms: walls, floor, furniture and lamps
camera.py    how a low-light camera makes a bright scene dark (exposure, noise, gamma, 8 bits)
generate.py  clips, scenes and splits put together, written as videos with ARID lists
"""

from darkedge.data.synth.generate import (
    SynthConfig,
    clip_jobs,
    parse_size,
    read_stats,
    render_clip,
    synthesize,
)

__all__ = ["SynthConfig", "clip_jobs", "parse_size", "read_stats", "render_clip", "synthesize"]
