//! The HTML report (placeholder until the renderer lands).

use crate::insight::report::Report;

impl Report {
    /// The report as a self-contained HTML page.
    pub fn to_html(&self) -> String {
        String::new()
    }

    /// Writes [`to_html`](Report::to_html) to `path`.
    pub fn write_html(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_html())
    }
}
