"""Frames in and out: sources (camera index, picamera2, video, folder, stream), the capture
thread and its newest-frame hand-over, reconnect with back-off, the recorder, the window, the
overlay and the rolling fps."""
