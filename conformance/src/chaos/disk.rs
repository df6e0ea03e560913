//! Disk faults on a node's data directory, done by the harness while the node is dead: put the
//! directory on a small tmpfs (a real ENOSPC, as the kernel reports it) and take it off again, and
//! overwrite the directory's files with garbage.
//!
//! The inner run lives in a mount namespace of its own (`ip netns exec` makes one), so a tmpfs it
//! mounts is invisible to the host and disappears with the run even if nothing unmounts it; a node
//! started while the tmpfs is mounted sees it, because its own namespace is copied from the run's.
use std::{
    fs,
    io::{Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use anyhow::Context;
use rand::{rngs::StdRng, RngCore};

use super::net::sh;

/// Bytes a file occupies on a tmpfs: its length rounded up to whole 4 KiB pages.
fn pages(len: u64) -> u64 {
    len.div_ceil(4096) * 4096
}

/// The bytes the regular files under `dir` occupy on a tmpfs, and how many there are.
pub fn usage(dir: &Path) -> anyhow::Result<(u64, usize)> {
    let mut total = 0;
    let mut files = 0;
    for f in files_under(dir)? {
        total += pages(fs::metadata(&f)?.len());
        files += 1;
    }
    Ok((total, files))
}

/// Every regular file under `dir`, depth first.
pub fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("list {}", d.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A node directory moved onto a size-limited tmpfs; [`Tmpfs::restore`] moves it back.
#[derive(Debug)]
pub struct Tmpfs {
    /// The node directory, now a tmpfs mount point.
    pub dir: PathBuf,
    /// Where the directory's real contents wait meanwhile.
    aside: PathBuf,
    /// The tmpfs size in bytes.
    pub size: u64,
}

impl Tmpfs {
    /// Moves `dir` aside, mounts a tmpfs of `used + headroom` bytes (a whole number of pages) in its
    /// place and copies the contents onto it.
    pub fn mount(dir: &Path, headroom: u64) -> anyhow::Result<Self> {
        let (used, _) = usage(dir)?;
        let size = pages(used + headroom);
        let aside = dir.with_extension("disk");
        if aside.exists() {
            fs::remove_dir_all(&aside)?;
        }
        fs::rename(dir, &aside).context("move the node directory aside")?;
        fs::create_dir(dir)?;
        let shown = dir.display().to_string();
        let mounted = sh(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "doq-chaos-enospc",
                &shown,
            ],
        );
        if let Err(e) = mounted {
            let _ = fs::remove_dir(dir);
            fs::rename(&aside, dir)?;
            return Err(e.context("mount a tmpfs (needs root)"));
        }
        let tmpfs = Self {
            dir: dir.to_owned(),
            aside,
            size,
        };
        if let Err(e) = copy_into(&tmpfs.aside, dir) {
            tmpfs.restore(false)?;
            return Err(e.context("copy the node directory onto the tmpfs"));
        }
        Ok(tmpfs)
    }

    /// The tmpfs [`mount`](Self::mount) put on `dir` earlier (to restore it after a failure).
    pub fn adopt(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            aside: dir.with_extension("disk"),
            size: 0,
        }
    }

    /// Grows the tmpfs to `size` bytes, as an operator who frees space would.
    pub fn grow(&mut self, size: u64) -> anyhow::Result<()> {
        let shown = self.dir.display().to_string();
        sh("mount", &["-o", &format!("remount,size={size}"), &shown])?;
        self.size = size;
        Ok(())
    }

    /// Unmounts the tmpfs and puts the directory back: with what the node wrote on the tmpfs when
    /// `keep` (the node's state moves on as on a real disk), or as it was before otherwise.
    pub fn restore(self, keep: bool) -> anyhow::Result<()> {
        if keep {
            fs::remove_dir_all(&self.aside).context("drop the old copy")?;
            fs::create_dir(&self.aside)?;
            copy_into(&self.dir, &self.aside).context("copy the tmpfs back to disk")?;
        }
        let shown = self.dir.display().to_string();
        sh("umount", &[&shown]).context("unmount the tmpfs")?;
        fs::remove_dir(&self.dir)?;
        fs::rename(&self.aside, &self.dir).context("move the node directory back")
    }
}

/// `cp -a from/. to/`: every file, with its mode and times.
fn copy_into(from: &Path, to: &Path) -> anyhow::Result<()> {
    let src = format!("{}/.", from.display());
    let dst = format!("{}/", to.display());
    sh("cp", &["-a", &src, &dst]).map(|_| ())
}

/// Overwrites every regular file under `dir` with random bytes of its own length (at most the first
/// `cap` bytes of each), so nothing in it can be read as the store it was; answers the files and
/// bytes overwritten.
pub fn garble(dir: &Path, rng: &mut StdRng, cap: u64) -> anyhow::Result<(usize, u64)> {
    let mut bytes = 0;
    let files = files_under(dir)?;
    let mut buf = vec![0u8; 64 * 1024];
    for f in &files {
        let len = fs::metadata(f)?.len().min(cap);
        let mut file = fs::OpenOptions::new().write(true).open(f)?;
        file.seek(SeekFrom::Start(0))?;
        let mut left = len;
        while left > 0 {
            let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            rng.fill_bytes(&mut buf[..n]);
            file.write_all(&buf[..n])?;
            left -= n as u64;
        }
        file.sync_all()?;
        bytes += len;
    }
    Ok((files.len(), bytes))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn garbling_keeps_lengths_and_changes_every_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("a"), vec![7u8; 10_000]).unwrap();
        fs::write(dir.path().join("sub/b"), b"hello").unwrap();
        // 10,000 bytes take three pages, 5 bytes one.
        assert_eq!(usage(dir.path()).unwrap(), (4 * 4096, 2));
        let mut rng = StdRng::seed_from_u64(1);
        let (files, bytes) = garble(dir.path(), &mut rng, 1 << 20).unwrap();
        assert_eq!((files, bytes), (2, 10_005));
        let a = fs::read(dir.path().join("a")).unwrap();
        assert_eq!(a.len(), 10_000);
        assert_ne!(a, vec![7u8; 10_000]);
        assert_ne!(fs::read(dir.path().join("sub/b")).unwrap(), b"hello");
    }
}
