//! Finding the `file` field of a `multipart/form-data` upload (DOQ's restore form) inside a spooled body,
//! without reading the body into memory: the restore then reads just that byte range.
use std::io::{self, Read, Seek, SeekFrom};

/// Bytes scanned per read.
const BLOCK: usize = 64 * 1024;
/// The most header bytes a part may have.
const MAX_PART_HEADERS: usize = 16 * 1024;

/// The `boundary` parameter of a `multipart/form-data` content type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    let kind = parts.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The byte range `[start, end)` of the part named `file`; `Ok(None)` when the body has no such part.
pub(crate) fn find_file_part<F: Read + Seek>(
    f: &mut F,
    boundary: &str,
) -> io::Result<Option<(u64, u64)>> {
    let delim = format!("--{boundary}").into_bytes();
    let next_delim = format!("\r\n--{boundary}").into_bytes();
    let Some(mut pos) = find(f, &delim, 0)? else {
        return Ok(None);
    };
    loop {
        let after = pos + delim.len() as u64;
        let mut two = [0u8; 2];
        f.seek(SeekFrom::Start(after))?;
        if f.read(&mut two)? < 2 || &two == b"--" {
            return Ok(None);
        }
        let Some(headers_end) = find(f, b"\r\n\r\n", after)? else {
            return Ok(None);
        };
        let len = usize::try_from(headers_end - after).unwrap_or(usize::MAX);
        if len > MAX_PART_HEADERS {
            return Ok(None);
        }
        let mut headers = vec![0u8; len];
        f.seek(SeekFrom::Start(after))?;
        f.read_exact(&mut headers)?;
        let start = headers_end + 4;
        let Some(end) = find(f, &next_delim, start)? else {
            return Ok(None);
        };
        if is_file_field(&String::from_utf8_lossy(&headers)) {
            return Ok(Some((start, end)));
        }
        pos = end + 2;
    }
}

/// Whether a part's headers name the form field `file`.
fn is_file_field(headers: &str) -> bool {
    headers.lines().any(|line| {
        let Some((name, value)) = line.split_once(':') else {
            return false;
        };
        name.trim().eq_ignore_ascii_case("content-disposition")
            && value.split(';').any(|p| {
                p.trim().split_once('=').is_some_and(|(k, v)| {
                    k.trim() == "name" && v.trim().trim_matches('"') == "file"
                })
            })
    })
}

/// The offset of the first `pattern` at or after `from`.
fn find<F: Read + Seek>(f: &mut F, pattern: &[u8], from: u64) -> io::Result<Option<u64>> {
    f.seek(SeekFrom::Start(from))?;
    let mut window: Vec<u8> = Vec::with_capacity(BLOCK + pattern.len());
    let mut window_start = from;
    let mut block = vec![0u8; BLOCK];
    loop {
        let n = f.read(&mut block)?;
        if n == 0 {
            return Ok(None);
        }
        window.extend_from_slice(&block[..n]);
        if let Some(i) = window.windows(pattern.len()).position(|w| w == pattern) {
            return Ok(Some(window_start + i as u64));
        }
        // Keep the tail that could start a match spanning the next block.
        let keep = pattern.len().saturating_sub(1).min(window.len());
        let drop = window.len() - keep;
        window.drain(..drop);
        window_start += drop as u64;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failing unwrap is a failing test")]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn finds_the_file_field_among_others() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.bin\"\r\nContent-Type: application/octet-stream\r\n\r\nDOQ\r\nDATA\r\n--XyZ--\r\n";
        let mut c = Cursor::new(body.to_vec());
        let (s, e) = find_file_part(&mut c, "XyZ").unwrap().unwrap();
        let (s, e) = (usize::try_from(s).unwrap(), usize::try_from(e).unwrap());
        assert_eq!(&body[s..e], b"DOQ\r\nDATA");
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\"").as_deref(),
            Some("XyZ")
        );
        assert_eq!(boundary("application/octet-stream"), None);
        let mut c = Cursor::new(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--XyZ--".to_vec(),
        );
        assert_eq!(find_file_part(&mut c, "XyZ").unwrap(), None);
    }
}
