//! What the interop test binaries share: the Python virtual environment and
//! the Node packages.

use std::path::{Path, PathBuf};
use std::process::Command;

const REQUIREMENTS: &str = include_str!("../../requirements.txt");
const PACKAGE_JSON: &str = include_str!("../../node/package.json");

/// A folder with the pinned Node packages and `scripts` (from `node/`)
/// copied in: ES module imports resolve from the script's folder.
#[allow(dead_code)]
pub fn node_dir(scripts: &[&str]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-node");
    let marker = dir.join("package.installed");
    std::fs::create_dir_all(&dir).unwrap();
    let _lock = install_lock(&dir);
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(PACKAGE_JSON) {
        std::fs::write(dir.join("package.json"), PACKAGE_JSON).unwrap();
        let installed = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-package-lock",
                "--loglevel=error",
            ])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(installed.success(), "npm install failed");
        std::fs::write(&marker, PACKAGE_JSON).unwrap();
    }
    for script in scripts {
        std::fs::copy(interop_dir().join("node").join(script), dir.join(script)).unwrap();
    }
    dir
}

/// An exclusive lock held while packages are checked and installed: test
/// binaries run as separate processes, and two `npm install`s (or `pip
/// install`s) into one folder at once leave it half-written.
fn install_lock(dir: &Path) -> std::fs::File {
    std::fs::create_dir_all(dir).unwrap();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".install.lock"))
        .unwrap();
    file.lock().expect("lock the install folder");
    file
}

pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The interpreter of a virtual environment holding the pinned libraries.
pub fn python() -> PathBuf {
    if let Ok(python) = std::env::var("HALE_INTEROP_PYTHON") {
        return python.into();
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-venv");
    let python = venv.join("bin/python");
    let marker = venv.join("requirements.installed");
    let _lock = install_lock(Path::new(env!("CARGO_TARGET_TMPDIR")));
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(REQUIREMENTS) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(interop_dir().join("requirements.txt"))
            .status()
            .expect("pip runs");
        assert!(
            installed.success(),
            "pip install -r requirements.txt failed"
        );
        std::fs::write(&marker, REQUIREMENTS).unwrap();
    }
    python
}
