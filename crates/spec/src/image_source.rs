//! Which files an `ImageFolder` or `Csv` source names, and with which labels: the listing
//! rules shared by `ronin check` (class names, the first image's size), the data crate
//! (which also reads every file's header) and the experiment fingerprint. Nothing here
//! decodes an image.

use std::path::{Path, PathBuf};

/// File extensions read as images (compared without regard to case).
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// A problem with the files of a folder or CSV source. Each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Io(#[from] std::io::Error),

    #[error("{}: not a folder; ImageFolder reads root/<class>/<image>", root.display())]
    NotAFolder { root: PathBuf },

    #[error("{}: no class folders (ImageFolder reads root/<class>/<image>){}", root.display(),
        if *loose > 0 { format!("; {loose} images lie directly in it: move them into one folder per class") } else { String::new() })]
    NoClassFolders { root: PathBuf, loose: usize },

    #[error("{}: no PNG, JPEG or BMP file in the folder of class '{class}'; add images or remove the folder", dir.display())]
    EmptyClass { dir: PathBuf, class: String },

    #[error("{}: the folder '{class}' is not one of the classes {classes:?} ({from})", dir.display())]
    FolderNotAClass {
        dir: PathBuf,
        class: String,
        classes: Vec<String>,
        from: String,
    },

    #[error("{}: cannot read the CSV: {source}", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },

    #[error("{}: no column '{column}' in the header {header:?}; set {field} to the column's name", path.display())]
    NoColumn {
        path: PathBuf,
        column: String,
        header: Vec<String>,
        field: &'static str,
    },

    #[error("{}: no rows under the header", path.display())]
    EmptyCsv { path: PathBuf },

    #[error("{}, line {line}: label '{label}' is not one of the {} classes {classes:?} ({from}){}",
        path.display(), classes.len(),
        if classes.is_empty() { String::new() } else { format!(", nor an index below {}", classes.len()) })]
    UnknownLabel {
        path: PathBuf,
        line: u64,
        label: String,
        classes: Vec<String>,
        from: String,
    },
}

/// One row of a CSV source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    /// The image, resolved against the source's `root` or the CSV's folder.
    pub path: PathBuf,
    pub label: String,
    /// 1-based line of the row in the CSV file.
    pub line: u64,
}

/// Whether `path` has one of [`IMAGE_EXTENSIONS`].
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// The entries of `dir` that are not hidden, sorted by name, as (name, path, is_dir).
fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>, ListError> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if hidden(&name) {
            continue;
        }
        let path = entry.path();
        // Follows symbolic links, as torchvision does.
        let is_dir = path.is_dir();
        out.push((name, path, is_dir));
    }
    out.sort();
    Ok(out)
}

/// The class folders of an `ImageFolder` root, sorted by name (as torchvision's
/// `find_classes`), hidden folders left out.
pub fn folder_classes(root: &Path) -> Result<Vec<String>, ListError> {
    if !root.is_dir() {
        return Err(ListError::NotAFolder {
            root: root.to_owned(),
        });
    }
    let entries = sorted_entries(root)?;
    let classes: Vec<String> = entries
        .iter()
        .filter(|(_, _, d)| *d)
        .map(|(n, _, _)| n.clone())
        .collect();
    if classes.is_empty() {
        let loose = entries.iter().filter(|(_, p, _)| is_image_file(p)).count();
        return Err(ListError::NoClassFolders {
            root: root.to_owned(),
            loose,
        });
    }
    Ok(classes)
}

/// The image files under `dir` and its subfolders, in sorted order (each folder's entries
/// by name, a subfolder's files where its name sorts).
pub fn images_under(dir: &Path) -> Result<Vec<PathBuf>, ListError> {
    let mut out = Vec::new();
    walk(dir, &mut out, &mut |_| false)?;
    Ok(out)
}

/// The first image of [`images_under`], without listing the rest.
pub fn first_image_under(dir: &Path) -> Result<Option<PathBuf>, ListError> {
    let mut out = Vec::new();
    walk(dir, &mut out, &mut |found| !found.is_empty())?;
    Ok(out.into_iter().next())
}

/// Appends the images under `dir`; stops early once `stop` says so.
fn walk(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    stop: &mut dyn FnMut(&[PathBuf]) -> bool,
) -> Result<(), ListError> {
    for (_, path, is_dir) in sorted_entries(dir)? {
        if stop(out) {
            return Ok(());
        }
        if is_dir {
            walk(&path, out, stop)?;
        } else if is_image_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// The images of an `ImageFolder` root and their labels: each class folder's images
/// labelled by the folder's position in `classes`. `from` says where `classes` came from,
/// for errors. A folder that is not a class, or a class folder without images, is an
/// error naming the folder.
pub fn list_folder(
    root: &Path,
    classes: &[String],
    from: &str,
) -> Result<(Vec<PathBuf>, Vec<usize>), ListError> {
    let mut files = Vec::new();
    let mut labels = Vec::new();
    for class in folder_classes(root)? {
        let dir = root.join(&class);
        let Some(label) = classes.iter().position(|c| *c == class) else {
            return Err(ListError::FolderNotAClass {
                dir,
                class,
                classes: classes.to_vec(),
                from: from.to_owned(),
            });
        };
        let images = images_under(&dir)?;
        if images.is_empty() {
            return Err(ListError::EmptyClass { dir, class });
        }
        labels.extend(std::iter::repeat_n(label, images.len()));
        files.extend(images);
    }
    Ok((files, labels))
}

/// The rows of a CSV source: the header names the columns; `root` (else the CSV's folder)
/// is where relative paths start. Fields are trimmed of surrounding spaces.
pub fn read_csv(
    file: &Path,
    root: Option<&Path>,
    path_column: &str,
    label_column: &str,
) -> Result<Vec<CsvRow>, ListError> {
    let csv_err = |source| ListError::Csv {
        path: file.to_owned(),
        source,
    };
    let reader = fs_err::File::open(file)?;
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let header: Vec<String> = csv
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(str::to_owned)
        .collect();
    let column = |name: &str, field| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| ListError::NoColumn {
                path: file.to_owned(),
                column: name.to_owned(),
                header: header.clone(),
                field,
            })
    };
    let (p, l) = (
        column(path_column, "path_column")?,
        column(label_column, "label_column")?,
    );
    let base = root.map_or_else(
        || file.parent().unwrap_or_else(|| Path::new("")).to_owned(),
        Path::to_owned,
    );
    let mut rows = Vec::new();
    for record in csv.records() {
        let record = record.map_err(csv_err)?;
        let line = record.position().map_or(0, |pos| pos.line());
        // Both columns exist: the csv crate rejects rows of another length.
        let field = |i: usize| record.get(i).unwrap_or_default();
        rows.push(CsvRow {
            path: base.join(field(p)),
            label: field(l).to_owned(),
            line,
        });
    }
    if rows.is_empty() {
        return Err(ListError::EmptyCsv {
            path: file.to_owned(),
        });
    }
    Ok(rows)
}

/// The class names a CSV file's labels give when `data.classes` does not: `"0"`…`"max"`
/// when every label is an integer, else the distinct labels, sorted.
pub fn label_classes(rows: &[CsvRow]) -> Vec<String> {
    let indices: Option<Vec<usize>> = rows.iter().map(|r| r.label.parse().ok()).collect();
    match indices {
        Some(ix) => {
            let n = ix.iter().max().map_or(0, |m| m + 1);
            (0..n).map(|i| i.to_string()).collect()
        }
        None => {
            let mut names: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
            names.sort();
            names.dedup();
            names
        }
    }
}

/// The label of each row against `classes`: by name when every label is a class name,
/// else by index when every label is an integer below the number of classes; otherwise
/// an error at the first label that is not a class name.
pub fn resolve_labels(
    rows: &[CsvRow],
    file: &Path,
    classes: &[String],
    from: &str,
) -> Result<Vec<usize>, ListError> {
    let by_name: Option<Vec<usize>> = rows
        .iter()
        .map(|r| classes.iter().position(|c| *c == r.label))
        .collect();
    if let Some(labels) = by_name {
        return Ok(labels);
    }
    let by_index: Option<Vec<usize>> = rows
        .iter()
        .map(|r| r.label.parse().ok().filter(|&i: &usize| i < classes.len()))
        .collect();
    if let Some(labels) = by_index {
        return Ok(labels);
    }
    // Report the first label that is neither a name nor (when all are numbers) an index.
    let all_numbers = rows.iter().all(|r| r.label.parse::<usize>().is_ok());
    let bad = rows
        .iter()
        .find(|r| {
            if all_numbers {
                r.label.parse::<usize>().is_ok_and(|i| i >= classes.len())
            } else {
                !classes.contains(&r.label)
            }
        })
        .unwrap_or(&rows[0]);
    Err(ListError::UnknownLabel {
        path: file.to_owned(),
        line: bad.line,
        label: bad.label.clone(),
        classes: classes.to_vec(),
        from: from.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        fs_err::create_dir_all(p.parent().expect("a parent")).expect("mkdir");
        fs_err::write(p, b"x").expect("write");
    }

    #[test]
    fn folders_sorted_hidden_and_other_files_left_out() {
        let dir = tempfile::tempdir().expect("temp dir");
        let r = dir.path();
        for f in [
            "b/2.png",
            "b/1.JPG",
            "b/sub/0.bmp",
            "b/notes.txt",
            "a/x.jpeg",
            "a/.hidden.png",
        ] {
            touch(&r.join(f));
        }
        fs_err::create_dir_all(r.join(".cache")).expect("mkdir");
        assert_eq!(folder_classes(r).expect("classes"), ["a", "b"]);
        let classes = vec!["a".to_string(), "b".into()];
        let (files, labels) = list_folder(r, &classes, "t").expect("list");
        let rel: Vec<_> = files
            .iter()
            .map(|f| f.strip_prefix(r).expect("under r"))
            .collect();
        assert_eq!(
            rel,
            [
                Path::new("a/x.jpeg"),
                Path::new("b/1.JPG"),
                Path::new("b/2.png"),
                Path::new("b/sub/0.bmp")
            ]
        );
        assert_eq!(labels, [0, 1, 1, 1]);
        assert_eq!(
            first_image_under(&r.join("b")).expect("walk"),
            Some(r.join("b/1.JPG"))
        );
    }

    #[test]
    fn folder_errors_name_the_folder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let r = dir.path();
        touch(&r.join("loose.png"));
        let msg = folder_classes(r).expect_err("no class folders").to_string();
        assert!(
            msg.contains("no class folders") && msg.contains("1 images lie directly"),
            "{msg}"
        );
        touch(&r.join("cat/1.png"));
        fs_err::create_dir_all(r.join("dog")).expect("mkdir");
        let classes = folder_classes(r).expect("classes");
        let msg = list_folder(r, &classes, "t")
            .expect_err("empty dog")
            .to_string();
        assert!(
            msg.contains("dog: no PNG, JPEG or BMP file in the folder of class 'dog'"),
            "{msg}"
        );
        let msg = list_folder(r, &["dog".into()], "data.classes")
            .expect_err("cat is not a class")
            .to_string();
        assert!(
            msg.contains("the folder 'cat' is not one of the classes [\"dog\"] (data.classes)"),
            "{msg}"
        );
        let msg = folder_classes(&r.join("nope"))
            .expect_err("missing")
            .to_string();
        assert!(msg.contains("nope: not a folder"), "{msg}");
    }

    #[test]
    fn csv_labels_by_name_or_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = dir.path().join("labels.csv");
        fs_err::write(
            &f,
            "id,path,label\n1,img/a.png,dog\n2, /abs/b.png ,cat\n3,c.png,dog\n",
        )
        .expect("write");
        let rows = read_csv(&f, None, "path", "label").expect("rows");
        assert_eq!(rows[0].path, dir.path().join("img/a.png"));
        assert_eq!(rows[1].path, Path::new("/abs/b.png"));
        assert_eq!(rows[2].line, 4);
        assert_eq!(label_classes(&rows), ["cat", "dog"]);
        let classes = label_classes(&rows);
        assert_eq!(
            resolve_labels(&rows, &f, &classes, "t").expect("names"),
            [1, 0, 1]
        );

        let rooted = read_csv(&f, Some(Path::new("/data")), "path", "label").expect("rows");
        assert_eq!(rooted[0].path, Path::new("/data/img/a.png"));

        fs_err::write(&f, "path,label\na.png,2\nb.png,0\n").expect("write");
        let rows = read_csv(&f, None, "path", "label").expect("rows");
        assert_eq!(label_classes(&rows), ["0", "1", "2"]);
        let named = vec!["x".to_string(), "y".into(), "z".into()];
        assert_eq!(
            resolve_labels(&rows, &f, &named, "data.classes").expect("indices"),
            [2, 0]
        );
        let msg = resolve_labels(&rows, &f, &named[..2], "data.classes")
            .expect_err("index 2 of 2 classes")
            .to_string();
        assert!(
            msg.contains("labels.csv, line 2: label '2' is not one of the 2 classes"),
            "{msg}"
        );
        assert!(msg.contains("nor an index below 2"), "{msg}");

        fs_err::write(&f, "path,label\na.png,cat\nb.png,dgo\n").expect("write");
        let rows = read_csv(&f, None, "path", "label").expect("rows");
        let msg = resolve_labels(&rows, &f, &["cat".into(), "dog".into()], "data.classes")
            .expect_err("dgo")
            .to_string();
        assert!(msg.contains("line 3: label 'dgo'"), "{msg}");

        let msg = read_csv(&f, None, "file", "label")
            .expect_err("no column")
            .to_string();
        assert!(
            msg.contains("no column 'file' in the header [\"path\", \"label\"]; set path_column"),
            "{msg}"
        );
        fs_err::write(&f, "path,label\n").expect("write");
        let msg = read_csv(&f, None, "path", "label")
            .expect_err("empty")
            .to_string();
        assert!(msg.contains("no rows under the header"), "{msg}");
        fs_err::write(&f, "path,label\na.png\n").expect("write");
        let msg = read_csv(&f, None, "path", "label")
            .expect_err("short row")
            .to_string();
        assert!(msg.contains("labels.csv: cannot read the CSV"), "{msg}");
    }
}
