"""Frames in and out: sources (camera index, picamera2, video, folder, stream), the capture
thread and its newest-frame hand-over, reconnect with back-off, the recorder, the window, the
overlay and the rolling fps; frames (the newest frame for the pages) and state (the one
frame-state schema: age, source state, fps, prediction) that every page and status file uses."""
