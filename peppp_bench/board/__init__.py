"""The leaderboard: submissions, their validation and verification, the board and its figures."""
