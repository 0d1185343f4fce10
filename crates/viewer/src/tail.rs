//! Finding a run's event files, reading them whole, and following them as they grow.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::ViewerError;
use crate::record::split_records;
use crate::scalars::{ScalarDecoder, ScalarLog};

/// Event files are named `events.out.tfevents.<10-digit time>.<host>.<pid>.<n>[.v2]`,
/// so name order is creation order.
const EVENT_FILE_PREFIX: &str = "events.out.tfevents.";

/// Reads every scalar of a run.
///
/// `path` is an event file, a directory holding event files, or a run directory whose
/// `events/` subdirectory holds them. All `events.out.tfevents.*` files are read in
/// name order (which is creation order) and merged; see [`ScalarLog`] for how steps
/// logged again by a resumed run are handled.
///
/// A record cut short at the end of a file is expected while a run is writing it and
/// is skipped with a warning; a complete record with a bad checksum is an error
/// naming the file and the record's byte offset. A directory with no event files
/// gives an empty log with a warning.
pub fn read_scalars(path: impl AsRef<Path>) -> Result<ScalarLog, ViewerError> {
    let path = path.as_ref();
    let mut tail = EventTail::new(path);
    let mut log = tail.poll()?;
    if tail.files.is_empty() {
        log.warnings.push(format!(
            "{}: no {EVENT_FILE_PREFIX}* files found",
            path.display()
        ));
    }
    for (file, offset, bytes) in tail.incomplete() {
        log.warnings.push(format!(
            "{}: the last {bytes} byte(s), from byte offset {offset}, are an incomplete \
             record (the run may still be writing it); ignored",
            file.display()
        ));
    }
    Ok(log)
}

/// The event files `path` stands for, sorted by name (see [`read_scalars`]).
pub fn event_files(path: &Path) -> Result<Vec<PathBuf>, ViewerError> {
    let meta = fs_err::metadata(path).map_err(|err| match err.kind() {
        ErrorKind::NotFound => ViewerError::NotFound {
            path: path.to_path_buf(),
        },
        _ => ViewerError::Io(err),
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let events = path.join("events");
    let dir = if events.is_dir() {
        events
    } else {
        path.to_path_buf()
    };
    let mut files = Vec::new();
    for entry in fs_err::read_dir(&dir)? {
        let entry = entry?;
        let is_event_file = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(EVENT_FILE_PREFIX));
        if is_event_file && entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// How far one file has been read.
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    /// Offset just past the last complete record read.
    offset: u64,
    /// Bytes after `offset` that did not form a complete record at the last poll.
    incomplete: usize,
}

/// Follows a run's event files, returning only what was added since the last poll.
///
/// It remembers, per file, the byte offset after the last complete record, so a record
/// being written is read once it is complete; files that appear later (a resumed run
/// starts a new one) are picked up. Merge successive polls with [`ScalarLog::extend`].
#[derive(Debug, Clone)]
pub struct EventTail {
    path: PathBuf,
    files: BTreeMap<PathBuf, Cursor>,
    decoder: ScalarDecoder,
}

impl EventTail {
    /// A tail of `path` (as for [`read_scalars`]) that has read nothing yet; nothing is
    /// read until [`EventTail::poll`], and `path` need not exist before then.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            files: BTreeMap::new(),
            decoder: ScalarDecoder::default(),
        }
    }

    /// The path being followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the complete records added since the last poll and returns their scalars.
    ///
    /// On error nothing is consumed: the next poll reads the same bytes again.
    pub fn poll(&mut self) -> Result<ScalarLog, ViewerError> {
        let mut files = self.files.clone();
        let mut decoder = self.decoder.clone();
        let mut log = ScalarLog::default();
        for file in event_files(&self.path)? {
            let cursor = files.entry(file.clone()).or_default();
            let mut handle = fs_err::File::open(&file)?;
            let len = handle.metadata()?.len();
            if len < cursor.offset {
                log.warnings.push(format!(
                    "{}: shrank from {} to {len} bytes since the last read; reading it again \
                     from the start",
                    file.display(),
                    cursor.offset
                ));
                cursor.offset = 0;
            }
            handle.seek(SeekFrom::Start(cursor.offset))?;
            let mut buf = Vec::new();
            handle.read_to_end(&mut buf)?;
            let found = split_records(&file, cursor.offset, &buf)?;
            for record in &found.records {
                decoder.decode(&file, record.offset, record.data, &mut log);
            }
            *cursor = Cursor {
                offset: found.end,
                incomplete: found.incomplete,
            };
        }
        self.files = files;
        self.decoder = decoder;
        Ok(log)
    }

    /// The files read so far, with the offset just past their last complete record.
    pub fn offsets(&self) -> impl Iterator<Item = (&Path, u64)> {
        self.files.iter().map(|(f, c)| (f.as_path(), c.offset))
    }

    /// Files that ended, at the last poll, in an incomplete record: `(file, offset of
    /// the record, bytes present)`.
    pub fn incomplete(&self) -> Vec<(PathBuf, u64, usize)> {
        self.files
            .iter()
            .filter(|(_, c)| c.incomplete > 0)
            .map(|(f, c)| (f.clone(), c.offset, c.incomplete))
            .collect()
    }
}

/// An image a run logged (TensorBoard's Images tab): its tag, step and encoded bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedImage {
    pub tag: String,
    pub step: i64,
    pub width: i32,
    pub height: i32,
    /// PNG (or whatever the writer encoded).
    pub encoded: Vec<u8>,
}

/// Every image summary in the event files at `path` (complete, CRC-checked records).
pub fn read_images(path: impl AsRef<Path>) -> Result<Vec<LoggedImage>, ViewerError> {
    use prost::Message;
    let mut out = Vec::new();
    for file in event_files(path.as_ref())? {
        let buf = fs_err::read(&file)?;
        let found = split_records(&file, 0, &buf)?;
        for record in &found.records {
            let Ok(event) = crate::proto::Event::decode(record.data) else {
                continue;
            };
            for value in event.summary.into_iter().flat_map(|s| s.value) {
                if let Some(img) = value.image {
                    out.push(LoggedImage {
                        tag: value.tag,
                        step: event.step,
                        width: img.width,
                        height: img.height,
                        encoded: img.encoded_image_string,
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
