"""Virtual Raspberry Pis on this machine: arm64 Debian trees under qemu-user, and a booted VM."""
