"""The demo world and the small text-to-video model kino trains, exports and ships."""
