//! The files the tracker keeps under `dataDir` (spool, outbox, audit trail) hold events and
//! their history, so only the process's own user may read them: folders 0700 and files 0600,
//! whatever the umask, and a symbolic link is never followed where one of ours should be.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Creates `dir` (and what is missing above it) readable by this user alone, and makes it so
/// if it was there already.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    {
        let meta = fs::symlink_metadata(dir)?;
        if !meta.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a folder",
                dir.display()
            )));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Opens `path` for appending, creating it readable by this user alone; an older file with
/// wider permissions is narrowed, and a symbolic link in its place is refused.
pub fn append(path: &Path) -> io::Result<File> {
    let file = options().create(true).append(true).open(path)?;
    narrow(&file)?;
    Ok(file)
}

/// Creates `path` afresh (emptying what was there), readable by this user alone.
pub fn create(path: &Path) -> io::Result<File> {
    let file = options()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)?;
    narrow(&file)?;
    Ok(file)
}

/// Opens an existing file of ours for reading, refusing a symbolic link or anything that is
/// not a regular file (a FIFO would hang the reader, a device would never end).
pub fn read_regular(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(file)
}

fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    options
}

fn narrow(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    if file.metadata()?.permissions().mode() & 0o077 != 0 {
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    let _ = file;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn owner_only_whatever_the_umask() {
        let root = std::env::temp_dir().join(format!("et-files-{}", uuid::Uuid::new_v4().simple()));
        let old = unsafe { libc::umask(0o000) };
        let dir = root.join("a/b");
        private_dir(&dir).unwrap();
        let file = append(&dir.join("f")).unwrap();
        unsafe { libc::umask(old) };
        drop(file);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("f")), 0o600);
        // A file left world-readable by an older version is narrowed when opened again.
        fs::set_permissions(dir.join("f"), fs::Permissions::from_mode(0o644)).unwrap();
        drop(append(&dir.join("f")).unwrap());
        assert_eq!(mode(&dir.join("f")), 0o600);
        // A symbolic link where a file of ours should be is refused.
        std::os::unix::fs::symlink("/etc/hostname", dir.join("link")).unwrap();
        assert!(append(&dir.join("link")).is_err());
        assert!(read_regular(&dir.join("link")).is_err());
        fs::remove_dir_all(root).unwrap();
    }
}
