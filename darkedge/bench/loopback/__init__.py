"""Loopback cameras on 127.0.0.1, for `darkedge bench cameras`, the tests and the benchmarks: what `darkedge infer`
reads from IP cameras, served from this box.

    footage.py  night footage at a camera's size: a clip or a folder of them, scaled, sensor noise added
    mjpeg.py    MJPEG-over-HTTP cameras (Python's HTTP server, OpenCV's JPEG encoder)
    rtsp.py     RTSP cameras sending H.264 or H.265 (GStreamer's RTSP server, run by the system Python)
"""
