"""Dark-video data: decoding (video), list formats (lists), sampling, transforms, the torch Dataset, checks."""
