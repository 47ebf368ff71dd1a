"""Pure engagement logic: forward decay, levels, streaks, batch effects and metric views."""
