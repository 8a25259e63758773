"""The dailies web app (``vfx-double dailies serve``): review versions found in the work
root, a player with wipe and frame stepping, status and notes, licence and provenance badges,
OpenTimelineIO playlists."""
