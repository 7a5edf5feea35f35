"""`python -m edge.camera`: live classification, frame after frame (see edge.camera.command).

    python -m edge.camera --model models/sample --source 0
    from edge.camera import main, run, build_parser

command.py holds the loop (capture -> classify -> draw / print / record / serve) and its
docstring, which is the command's --help; args.py holds its flags.
"""

from edge.camera.command import DEFAULT_THREADS, OPENCV_THREADS, build_parser, main, run

__all__ = ["DEFAULT_THREADS", "OPENCV_THREADS", "build_parser", "main", "run"]
