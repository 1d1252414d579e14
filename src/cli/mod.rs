//! The admin commands that run beside (or without) the server.

pub mod channels;
pub mod check;
pub mod deliveries;
pub mod digest;
pub mod preview;
pub mod reroute;

/// Rows as columns two spaces apart, each as wide as its widest cell.
pub fn aligned(lines: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..lines.first().map_or(0, Vec::len))
        .map(|column| lines.iter().map(|line| line[column].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> =
            line.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
