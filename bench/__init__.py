"""The benchmark suite: grading overhead, queue pickup, a deadline rush, leaderboard scale,
fault injection and GPU throughput. Run it with `make bench` (see README, Performance)."""
