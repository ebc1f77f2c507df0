//! Hale's blob store: where large immutable objects (DICOM instances, FHIR bulk
//! exports) live. A folder in the data directory by default; S3-compatible or
//! Azure Blob storage by URL, through the `object_store` crate.
//!
//! Invariant: knows bytes and paths only; no HTTP routes, no SQL, no domain.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetResultPayload, ObjectStore};

/// Errors from the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("invalid blob URL {url:?}: {why}")]
    InvalidUrl { url: String, why: String },
    #[error("blob store {target}: {why}")]
    Unreachable { target: String, why: String },
    #[error("blob {0} not found")]
    NotFound(String),
    #[error("blob store error: {0}")]
    Storage(String),
}

/// Where blobs live, parsed from `--blob-url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobUrl {
    /// `file://<path>` or a bare path.
    Local(PathBuf),
    /// `s3://bucket/prefix` (credentials from `AWS_*` variables).
    S3(String),
    /// `az://container/prefix` (credentials from `AZURE_*` variables).
    Azure(String),
}

impl BlobUrl {
    /// Parses a blob URL as given on the command line.
    pub fn parse(raw: &str) -> Result<BlobUrl, BlobError> {
        let invalid = |why: &str| BlobError::InvalidUrl {
            url: raw.to_owned(),
            why: why.to_owned(),
        };
        if let Some(path) = raw.strip_prefix("file://") {
            if path.is_empty() {
                return Err(invalid("the folder path is empty"));
            }
            return Ok(BlobUrl::Local(path.into()));
        }
        match raw.split_once("://") {
            Some(("s3" | "s3a", _)) => Ok(BlobUrl::S3(raw.to_owned())),
            Some(("az" | "azure" | "abfs" | "abfss", _)) => Ok(BlobUrl::Azure(raw.to_owned())),
            Some((scheme, _)) => Err(invalid(&format!(
                "unsupported scheme {scheme:?}; use file://, s3:// or az://"
            ))),
            None if raw.is_empty() => Err(invalid("empty")),
            None => Ok(BlobUrl::Local(raw.into())),
        }
    }

    /// The URL as shown to people (it never carries credentials).
    pub fn display(&self) -> String {
        match self {
            BlobUrl::Local(path) => format!("file://{}", path.display()),
            BlobUrl::S3(url) | BlobUrl::Azure(url) => url.clone(),
        }
    }
}

/// A handle on the blob store. Cheap to clone.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    target: String,
    /// The folder of a local store (whose writes [`BlobStore::put_durable`] fsyncs).
    local_root: Option<PathBuf>,
    /// Folders under `local_root` whose own entry in their parent this
    /// process has made durable: later files in them only need their own
    /// folder synced. Folders are never removed (object_store's local
    /// backend leaves empty folders), so an entry stays true.
    durable_dirs: Arc<Mutex<HashSet<PathBuf>>>,
}

/// Most folders remembered in `durable_dirs` before it starts over.
const MAX_DURABLE_DIRS: usize = 100_000;

/// A stream of an object's bytes.
pub type BlobStream = futures::stream::BoxStream<'static, Result<Bytes, BlobError>>;

/// The object that readiness checks look for.
const PROBE: &str = ".hale/probe";

impl BlobStore {
    /// Opens the store (creating a local folder if needed) and proves it writable
    /// by writing a small probe object.
    pub async fn open(url: &BlobUrl) -> Result<BlobStore, BlobError> {
        let target = url.display();
        let unreachable = |why: String| BlobError::Unreachable {
            target: target.clone(),
            why,
        };
        let inner: Arc<dyn ObjectStore> = match url {
            BlobUrl::Local(path) => {
                std::fs::create_dir_all(path).map_err(|e| unreachable(e.to_string()))?;
                Arc::new(
                    LocalFileSystem::new_with_prefix(path)
                        .map_err(|e| unreachable(e.to_string()))?,
                )
            }
            BlobUrl::S3(raw) => Arc::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_url(raw)
                    .build()
                    .map_err(|e| unreachable(e.to_string()))?,
            ),
            BlobUrl::Azure(raw) => Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(raw)
                    .build()
                    .map_err(|e| unreachable(e.to_string()))?,
            ),
        };
        let local_root = match url {
            BlobUrl::Local(path) => {
                Some(std::fs::canonicalize(path).map_err(|e| unreachable(e.to_string()))?)
            }
            _ => None,
        };
        let store = BlobStore {
            inner,
            target: target.clone(),
            local_root,
            durable_dirs: Arc::default(),
        };
        store
            .put(PROBE, Bytes::from_static(b"hale"))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        Ok(store)
    }

    /// Where the store is, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Checks that the store answers (for `/readyz`): a metadata read of the probe.
    pub async fn ping(&self) -> Result<(), BlobError> {
        match self.inner.head(&ObjectPath::from(PROBE)).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::Unreachable {
                target: self.target.clone(),
                why: e.to_string(),
            }),
        }
    }

    /// Stores `bytes` under `path`, replacing any object there.
    pub async fn put(&self, path: &str, bytes: Bytes) -> Result<(), BlobError> {
        self.inner
            .put(&ObjectPath::from(path), bytes.into())
            .await
            .map(drop)
            .map_err(|e| BlobError::Storage(e.to_string()))
    }

    /// Stores `bytes` under `path`, a key never written before, and returns
    /// once they are durable. S3 and Azure Blob acknowledge a put only once
    /// it is durable. In a local folder the file is written in place and
    /// synced, then its folder (and each folder made for it, up to the root),
    /// all in one blocking task: object_store's local backend writes a
    /// temporary file and renames it without syncing, which would take a
    /// rename and two more thread hops. Writing in place is safe because the
    /// key is new: no reader knows it until the caller records it, and a
    /// crash mid-write leaves a partial file at a key the caller's sweep
    /// removes.
    pub async fn put_durable(&self, path: &str, bytes: Bytes) -> Result<(), BlobError> {
        let Some(root) = self
            .local_root
            .clone()
            .filter(|_| ObjectPath::from(path).as_ref() == path)
        else {
            return self.put(path, bytes).await;
        };
        let file = root.join(path);
        let known = self.durable_dirs.clone();
        tokio::task::spawn_blocking(move || write_durable(&root, &file, &bytes, &known))
            .await
            .map_err(|e| BlobError::Storage(e.to_string()))?
            .map_err(|e| BlobError::Storage(format!("durable write: {e}")))
    }

    /// The object at `path` as a stream of chunks (never whole in memory).
    /// A local file is read in [`FILE_CHUNK`] pieces, each one blocking read
    /// off the async threads (object_store's own stream reads 8 KiB per
    /// blocking task, which costs more than the bytes for large objects).
    pub async fn get_stream(&self, path: &str) -> Result<BlobStream, BlobError> {
        use futures::StreamExt;
        let result = match self.inner.get(&ObjectPath::from(path)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(BlobError::NotFound(path.to_owned()));
            }
            Err(e) => return Err(BlobError::Storage(e.to_string())),
        };
        let range = result.range.clone();
        match result.payload {
            GetResultPayload::File(file, _) => Ok(file_chunks(file, range).boxed()),
            GetResultPayload::Stream(stream) => Ok(stream
                .map(|r| r.map_err(|e| BlobError::Storage(e.to_string())))
                .boxed()),
        }
    }

    /// The object at `path`.
    pub async fn get(&self, path: &str) -> Result<Bytes, BlobError> {
        match self.inner.get(&ObjectPath::from(path)).await {
            Ok(result) => result
                .bytes()
                .await
                .map_err(|e| BlobError::Storage(e.to_string())),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound(path.to_owned())),
            Err(e) => Err(BlobError::Storage(e.to_string())),
        }
    }

    /// The given byte ranges of the object at `path`, in order (one positioned
    /// read each for a local file; ranged requests, coalesced, for S3 and Azure).
    pub async fn get_ranges(
        &self,
        path: &str,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<Bytes>, BlobError> {
        match self.inner.get_ranges(&ObjectPath::from(path), ranges).await {
            // A local read past the end comes back short: that is an error here.
            Ok(parts)
                if parts.len() == ranges.len()
                    && parts
                        .iter()
                        .zip(ranges)
                        .all(|(p, r)| p.len() as u64 == r.end.saturating_sub(r.start)) =>
            {
                Ok(parts)
            }
            Ok(_) => Err(BlobError::Storage(format!(
                "{path}: a range reaches past the end of the object"
            ))),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound(path.to_owned())),
            Err(e) => Err(BlobError::Storage(e.to_string())),
        }
    }

    /// Removes the object at `path` (no error if it is already gone).
    pub async fn delete(&self, path: &str) -> Result<(), BlobError> {
        match self.inner.delete(&ObjectPath::from(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::Storage(e.to_string())),
        }
    }

    /// Removes every object under the folder `prefix` (a whole path segment
    /// or several: `a/b` takes `a/b/c`, not `a/bc`), and returns how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, BlobError> {
        use futures::TryStreamExt;
        let listed: Vec<ObjectPath> = self
            .inner
            .list(Some(&ObjectPath::from(prefix)))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| BlobError::Storage(e.to_string()))?;
        for path in &listed {
            match self.inner.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(BlobError::Storage(e.to_string())),
            }
        }
        Ok(listed.len())
    }
}

/// Bytes read from a local file per blocking read.
const FILE_CHUNK: usize = 256 * 1024;

/// Writes `bytes` to `file` under `root` and makes them durable: the file's
/// data, its entry in its folder, and the entry of each folder made for it
/// in its parent, up to `root` (folders in `known` already have theirs).
fn write_durable(
    root: &std::path::Path,
    file: &std::path::Path,
    bytes: &[u8],
    known: &Mutex<HashSet<PathBuf>>,
) -> std::io::Result<()> {
    use std::io::Write;
    let dir = file
        .parent()
        .filter(|d| d.starts_with(root))
        .ok_or_else(|| std::io::Error::other("a blob path outside the store"))?;
    let is_known = |d: &std::path::Path| known.lock().is_ok_and(|k| k.contains(d));
    if !is_known(dir) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::File::create(file)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    drop(f);
    std::fs::File::open(dir)?.sync_all()?;
    let mut dir = dir;
    while dir != root && !is_known(dir) {
        let Some(up) = dir.parent() else { break };
        std::fs::File::open(up)?.sync_all()?;
        if let Ok(mut k) = known.lock() {
            if k.len() >= MAX_DURABLE_DIRS {
                k.clear();
            }
            k.insert(dir.to_path_buf());
        }
        dir = up;
    }
    Ok(())
}

/// `range` of `file` as a stream of chunks of at most [`FILE_CHUNK`] bytes.
fn file_chunks(
    file: std::fs::File,
    range: std::ops::Range<u64>,
) -> impl futures::Stream<Item = Result<Bytes, BlobError>> + Send + 'static {
    let state = (Some(file), range.start, range.end);
    futures::stream::try_unfold(state, |(file, at, end)| async move {
        let Some(mut file) = file.filter(|_| at < end) else {
            return Ok(None);
        };
        let want = (end - at).min(FILE_CHUNK as u64) as usize;
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Seek, SeekFrom};
            file.seek(SeekFrom::Start(at))?;
            let mut buf = vec![0u8; want];
            file.read_exact(&mut buf)?;
            Ok::<_, std::io::Error>((file, buf))
        })
        .await
        .map_err(|e| BlobError::Storage(e.to_string()))?
        .map_err(|e| BlobError::Storage(format!("read: {e}")))?;
        let next = at + chunk.len() as u64;
        Ok(Some((Bytes::from(chunk), (Some(file), next, end))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            BlobUrl::parse("file:///var/hale").unwrap(),
            BlobUrl::Local("/var/hale".into())
        );
        assert_eq!(
            BlobUrl::parse("data/blobs").unwrap(),
            BlobUrl::Local("data/blobs".into())
        );
        assert!(matches!(
            BlobUrl::parse("s3://bucket/x").unwrap(),
            BlobUrl::S3(_)
        ));
        assert!(matches!(
            BlobUrl::parse("az://container").unwrap(),
            BlobUrl::Azure(_)
        ));
        for bad in ["", "file://", "ftp://x/y"] {
            assert!(BlobUrl::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// A store in a fresh local folder (kept while the guard lives).
    async fn local_store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&BlobUrl::Local(dir.path().join("blobs")))
            .await
            .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn a_local_store_keeps_bytes_and_forgets_deleted_ones() {
        let (_dir, store) = local_store().await;
        store.ping().await.unwrap();
        store
            .put("a/b.bin", Bytes::from_static(b"\x00\x01bytes"))
            .await
            .unwrap();
        assert_eq!(&store.get("a/b.bin").await.unwrap()[..], b"\x00\x01bytes");
        store.delete("a/b.bin").await.unwrap();
        store.delete("a/b.bin").await.unwrap();
        assert!(matches!(
            store.get("a/b.bin").await,
            Err(BlobError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_prefix_takes_its_folder_and_nothing_beside_it() {
        let (_dir, store) = local_store().await;
        for key in [
            "jobs/a/1.ndjson",
            "jobs/a/deep/2.ndjson",
            "jobs/ab/3.ndjson",
            "other/4",
        ] {
            store.put(key, Bytes::from_static(b"x")).await.unwrap();
        }
        assert_eq!(store.delete_prefix("jobs/a").await.unwrap(), 2);
        assert!(matches!(
            store.get("jobs/a/1.ndjson").await,
            Err(BlobError::NotFound(_))
        ));
        assert!(matches!(
            store.get("jobs/a/deep/2.ndjson").await,
            Err(BlobError::NotFound(_))
        ));
        assert_eq!(
            store.get("jobs/ab/3.ndjson").await.unwrap(),
            Bytes::from_static(b"x")
        );
        assert_eq!(
            store.get("other/4").await.unwrap(),
            Bytes::from_static(b"x")
        );
        // Nothing there: nothing to do, no error.
        assert_eq!(store.delete_prefix("jobs/a").await.unwrap(), 0);
        assert_eq!(store.delete_prefix("never").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn durable_puts_make_their_folders_and_read_back() {
        let (_dir, store) = local_store().await;
        let root = store.local_root.clone().unwrap();
        store
            .put_durable("a/b/c/one.bin", Bytes::from_static(b"one"))
            .await
            .unwrap();
        store
            .put_durable("a/b/c/two.bin", Bytes::from_static(b"two"))
            .await
            .unwrap();
        store
            .put_durable("a/d/three.bin", Bytes::new())
            .await
            .unwrap();
        assert_eq!(&store.get("a/b/c/one.bin").await.unwrap()[..], b"one");
        assert_eq!(&store.get("a/b/c/two.bin").await.unwrap()[..], b"two");
        assert!(store.get("a/d/three.bin").await.unwrap().is_empty());
        // Every folder made is remembered as durable in its parent.
        let known = store.durable_dirs.lock().unwrap().clone();
        for d in ["a", "a/b", "a/b/c", "a/d"] {
            assert!(known.contains(&root.join(d)), "{d}");
        }
        // A key object_store would escape goes through object_store, and
        // reads back under the same key.
        store
            .put_durable("odd/x y%.bin", Bytes::from_static(b"odd"))
            .await
            .unwrap();
        assert_eq!(&store.get("odd/x y%.bin").await.unwrap()[..], b"odd");
        store.delete("a/b/c/one.bin").await.unwrap();
        assert!(matches!(
            store.get("a/b/c/one.bin").await,
            Err(BlobError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_stream_gives_every_byte_across_chunks() {
        use futures::TryStreamExt;
        let (_dir, store) = local_store().await;
        // Two whole chunks and a ragged tail; and an empty object.
        let bytes: Vec<u8> = (0..2 * FILE_CHUNK + 12_345)
            .map(|i| (i % 251) as u8)
            .collect();
        store
            .put("big.bin", Bytes::from(bytes.clone()))
            .await
            .unwrap();
        store.put("empty.bin", Bytes::new()).await.unwrap();
        let chunks: Vec<Bytes> = store
            .get_stream("big.bin")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.concat(), bytes);
        let none: Vec<Bytes> = store
            .get_stream("empty.bin")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(none.is_empty());
        assert!(matches!(
            store.get_stream("missing.bin").await,
            Err(BlobError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn ranges_are_the_bytes_at_those_offsets() {
        let (_dir, store) = local_store().await;
        let bytes: Vec<u8> = (0..100_000).map(|i| (i % 253) as u8).collect();
        store
            .put("r.bin", Bytes::from(bytes.clone()))
            .await
            .unwrap();
        let parts = store
            .get_ranges("r.bin", &[90_000..100_000, 0..1, 500..70_500])
            .await
            .unwrap();
        assert_eq!(parts[0], bytes[90_000..]);
        assert_eq!(parts[1], bytes[..1]);
        assert_eq!(parts[2], bytes[500..70_500]);
        assert!(
            store
                .get_ranges("r.bin", std::slice::from_ref(&(99_999..100_001)))
                .await
                .is_err()
        );
        assert!(matches!(
            store
                .get_ranges("missing.bin", std::slice::from_ref(&(0..1)))
                .await,
            Err(BlobError::NotFound(_))
        ));
    }
}
