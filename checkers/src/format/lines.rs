//! Where each event of a loaded file came from, kept in little room.

/// The 1-based line of each event of a loaded file. Events nearly always sit on lines
/// one after another, so runs are kept, not lines: a new run starts only where an event
/// is not on the line after the one before it (a blank line, a comment, a first line).
/// A million events on a million lines cost one entry instead of eight megabytes written
/// as they are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventLines {
    /// Per run: the index of its first event, and that event's line.
    runs: Vec<(usize, usize)>,
    len: usize,
}

impl EventLines {
    /// Adds the next event's line.
    #[inline(always)]
    pub fn push(&mut self, line: usize) {
        let len = self.len;
        let follows = self.runs.last().is_some_and(|&(first, at)| at + (len - first) == line);
        if !follows {
            self.runs.push((len, line));
        }
        self.len += 1;
    }

    /// The line of the event with this index.
    pub fn get(&self, index: usize) -> Option<usize> {
        if index >= self.len {
            return None;
        }
        let (first, line) = self.runs[self.runs.partition_point(|&(first, _)| first <= index) - 1];
        Some(line + (index - first))
    }

    /// Events recorded.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Each event's line, in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.spans().flat_map(|(line, events)| (line..).take(events))
    }

    /// Per run, its first event's line and how many events it holds.
    fn spans(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let ends = self.runs.iter().skip(1).map(|&(first, _)| first).chain([self.len]);
        self.runs.iter().zip(ends).map(|(&(first, line), end)| (line, end - first))
    }

    /// Appends the events of `other`, whose lines are counted from `offset` lines on.
    pub(crate) fn append(&mut self, other: &EventLines, offset: usize) {
        for (line, events) in other.spans() {
            // The first event of each run says whether it follows on; the rest do.
            self.push(line + offset);
            self.len += events - 1;
        }
    }
}

impl FromIterator<usize> for EventLines {
    fn from_iter<I: IntoIterator<Item = usize>>(lines: I) -> EventLines {
        let mut kept = EventLines::default();
        for line in lines {
            kept.push(line);
        }
        kept
    }
}

impl From<Vec<usize>> for EventLines {
    fn from(lines: Vec<usize>) -> EventLines {
        lines.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_as_pushed() {
        for lines in
            [vec![], vec![1], vec![1, 2, 3], vec![2, 3, 5, 6, 7, 9], vec![1, 3, 5], vec![4, 5, 6, 100]]
        {
            let kept = EventLines::from(lines.clone());
            assert_eq!(kept.iter().collect::<Vec<_>>(), lines);
            assert_eq!(kept.len(), lines.len());
            for (i, &line) in lines.iter().enumerate() {
                assert_eq!(kept.get(i), Some(line));
            }
            assert_eq!(kept.get(lines.len()), None);
        }
        assert_eq!(EventLines::from((1..=1_000_000).collect::<Vec<_>>()).runs.len(), 1);
    }

    #[test]
    fn appended_lines_are_the_lines_pushed_in_one_go() {
        let (a, b) = (vec![1, 2, 4, 5], vec![1, 2, 3, 7]);
        for offset in [0, 3, 5, 10] {
            let mut joined = EventLines::from(a.clone());
            joined.append(&EventLines::from(b.clone()), offset);
            let pushed: EventLines = a.iter().copied().chain(b.iter().map(|l| l + offset)).collect();
            assert_eq!(joined, pushed, "offset {offset}");
        }
    }
}
