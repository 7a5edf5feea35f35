"""Workstation tools around the device: deploying to a Raspberry Pi and checking its wheels.

python -m tools.deploy --host pi@raspberrypi.local --model models/sample
python -m tools.check_wheels
"""
