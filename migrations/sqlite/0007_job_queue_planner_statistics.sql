-- apalis acknowledges finished jobs with `UPDATE Jobs … FROM json_each(?) WHERE Jobs.id = …
-- AND Jobs.lock_by = ?`. Without statistics SQLite's planner walks every row the worker ever
-- locked (index LIdx: one value per process) and re-parses the JSON argument for each of them,
-- which took a third of delivery's CPU (BENCHMARKS.md). The statistic below says what is true
-- of rekindle's queue — lock_by picks out nearly every row — so the planner walks the few
-- acknowledged ids and looks each up by primary key instead. SQLite documents writing
-- sqlite_stat1 by hand for exactly this ("Manual Control Of Query Plans Using SQLITE_STAT
-- Tables"). The queue's tables are created after this migration on a new database; the row
-- applies once they exist, and connections load it when they open.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE tbl = 'Jobs' AND idx = 'LIdx';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('Jobs', 'LIdx', '100000 100000');
