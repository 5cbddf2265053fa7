"""Files that must survive a crash: archives, rescue records, atomic replace with fsync."""
