//! Rows in time order, judged one row ahead, so that one bad time costs one row.
//!
//! A row earlier than the last good row is out of order. A row later than the next one, when the next one is in
//! order with the good rows before, is a time in the future: that row is the bad one, not every row after it (a
//! check against the last row read, good or not, would refuse the rest of the file). With no good row before,
//! nothing says which of two rows out of order is wrong, and the later one is refused.

use crate::error::MarketError;
use crate::lobster::Lines;

/// A file's rows, parsed one at a time without looking at their neighbours.
pub(crate) trait Rows {
    /// A parsed row.
    type Row: Copy;

    /// The file's lines.
    fn lines(&self) -> &Lines;

    /// The file's lines, to move on.
    fn lines_mut(&mut self) -> &mut Lines;

    /// Parses the current line.
    fn parse_row(&mut self) -> Result<Self::Row, MarketError>;

    /// A row's time, ns.
    fn time_ns(row: &Self::Row) -> i64;

    /// The next row: its line (1-based) and the row, or why it cannot be read; `None` at the end of the file.
    fn next_row(&mut self) -> Option<(usize, Result<Self::Row, MarketError>)> {
        let advanced = self.lines_mut().advance();
        let line = self.lines().line;
        match advanced {
            Ok(true) => Some((line, self.parse_row())),
            Ok(false) => None,
            Err(e) => Some((line, Err(e))),
        }
    }
}

/// The rows of `R` handed out in time order (see the module).
pub(crate) struct TimeOrdered<R: Rows> {
    pub(crate) rows: R,
    /// Time of the last good row, ns.
    last_time: i64,
    /// The row after the last one handed out, read ahead.
    ahead: Option<(usize, Result<R::Row, MarketError>)>,
    /// Line of the last row handed out.
    line: usize,
}

impl<R: Rows> TimeOrdered<R> {
    pub(crate) fn new(rows: R) -> Self {
        TimeOrdered { rows, last_time: i64::MIN, ahead: None, line: 0 }
    }

    /// The next row, `Ok(None)` at the end. A row that cannot be read, or whose time is out of order, is an error
    /// naming its file, line and field; the rows after it can still be read.
    pub(crate) fn next(&mut self) -> Result<Option<R::Row>, MarketError> {
        let Some((line, row)) = self.ahead.take().or_else(|| self.rows.next_row()) else { return Ok(None) };
        self.line = line;
        let row = row?;
        let time = R::time_ns(&row);
        if time < self.last_time {
            return Err(
                self.error(format!("time goes backwards: {time} ns is before {} ns of the row before", self.last_time))
            );
        }
        self.ahead = self.rows.next_row();
        if let Some((_, Ok(next))) = &self.ahead {
            let next = R::time_ns(next);
            if next < time && next >= self.last_time && self.last_time != i64::MIN {
                return Err(self.error(format!(
                    "{time} ns is later than the next row's {next} ns, which is in order with the rows before: a \
                     time in the future"
                )));
            }
        }
        self.last_time = time;
        Ok(Some(row))
    }

    /// The line of the last row handed out (1-based).
    pub(crate) fn line(&self) -> usize {
        self.line
    }

    #[cold]
    fn error(&self, message: String) -> MarketError {
        MarketError::Parse { path: self.rows.lines().path.clone(), line: self.line, field: "time", message }
    }
}
