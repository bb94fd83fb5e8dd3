//! The database the cache sits in front of: a product catalog in SQLite
//! (compiled in by rusqlite's `bundled` feature, so there is no server to
//! install), one table of a million rows in a temporary file.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{params, Connection, OpenFlags};

/// One row of `products`, as the application uses it.
#[derive(Debug)]
#[allow(dead_code)] // the tour only weighs products; a shop would show them
pub struct Product {
    pub id: u32,
    pub name: String,
    pub category: String,
    pub price_cents: i64,
    pub stock: i64,
    pub description: String,
}

impl Product {
    /// About the memory a cached product holds: the struct, its strings'
    /// bytes, and the two counts of the `Arc` it is shared through. This is
    /// what the cache's weigher charges against its byte budget.
    pub fn bytes(&self) -> u32 {
        let heap = self.name.len() + self.category.len() + self.description.len();
        (std::mem::size_of::<Self>() + 2 * std::mem::size_of::<usize>() + heap) as u32
    }
}

/// The catalog's database file; deleted when dropped.
pub struct Catalog {
    path: PathBuf,
}

/// The categories, each about an eighth of the products.
pub const CATEGORIES: [&str; 8] = [
    "kitchen",
    "office",
    "garden",
    "lighting",
    "furniture",
    "travel",
    "textiles",
    "tools",
];
const MATERIALS: [&str; 8] = [
    "walnut", "brass", "linen", "ceramic", "oak", "copper", "wool", "steel",
];
const THINGS: [&str; 8] = [
    "desk lamp",
    "kettle",
    "armchair",
    "notebook",
    "backpack",
    "teapot",
    "planter",
    "toolbox",
];
/// Descriptions are 0 to 6 of these phrases, so cached products range
/// from about 150 to 450 bytes.
const PHRASES: [&str; 8] = [
    "Made to last, and easy to repair. ",
    "Ships in recycled packaging within two days. ",
    "Each piece is finished by hand, so no two are quite alike. ",
    "Five-year warranty. ",
    "Pairs well with the rest of the collection. ",
    "Wipe clean with a damp cloth. ",
    "Designed in Lisbon, made in Porto. ",
    "Customers call it the best thing they bought this year. ",
];

impl Catalog {
    /// Creates a catalog of `rows` products (ids `1..=rows`) in a fresh
    /// temporary file, calling `progress(rows_so_far)` every 250,000 rows.
    ///
    /// Fast because it is one transaction through one prepared statement,
    /// with no journal and no fsync: a throwaway file needs no crash
    /// safety. Rows come from a seeded RNG, so every run has the same data.
    pub fn build(rows: u32, mut progress: impl FnMut(u32)) -> rusqlite::Result<Catalog> {
        remove_leftovers();
        let path = std::env::temp_dir().join(format!("{FILE_PREFIX}{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        // From here on, dropping `catalog` deletes the file, error or not.
        let catalog = Catalog { path };
        let mut db = Connection::open(&catalog.path)?;
        db.execute_batch(
            "PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             CREATE TABLE products (
                 id          INTEGER PRIMARY KEY,
                 name        TEXT    NOT NULL,
                 category    TEXT    NOT NULL,
                 price_cents INTEGER NOT NULL,
                 stock       INTEGER NOT NULL,
                 description TEXT    NOT NULL
             );",
        )?;
        let mut rng = StdRng::seed_from_u64(0x5EED);
        let tx = db.transaction()?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO products (id, name, category, price_cents, stock, description)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut description = String::new();
            for id in 1..=rows {
                let name = format!(
                    "{} {} no. {id}",
                    MATERIALS[rng.gen_range(0..MATERIALS.len())],
                    THINGS[rng.gen_range(0..THINGS.len())]
                );
                description.clear();
                for _ in 0..rng.gen_range(0..=6) {
                    description.push_str(PHRASES[rng.gen_range(0..PHRASES.len())]);
                }
                insert.execute(params![
                    id,
                    name,
                    CATEGORIES[rng.gen_range(0..CATEGORIES.len())],
                    rng.gen_range(199..100_000i64),
                    rng.gen_range(0..500i64),
                    description,
                ])?;
                if id % 250_000 == 0 {
                    progress(id);
                }
            }
        }
        tx.commit()?;
        Ok(catalog)
    }

    /// The database file's size.
    pub fn bytes_on_disk(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// A connection for one thread. A rusqlite `Connection` is `Send` but
    /// not `Sync`, so each thread opens its own, read-only: SQLite lets any
    /// number of readers share the file.
    ///
    /// Tuned for a catalog nobody writes to while it is read, so that the
    /// cache is compared with a fast database, not a straw man: the reader
    /// maps the file (`mmap_size`) instead of copying each page it reads
    /// with a system call, and keeps its shared lock between queries
    /// (`locking_mode = EXCLUSIVE`; only writers are excluded) instead of
    /// taking it again and checking for a hot journal on every query.
    /// Together they make a query about three times cheaper.
    pub fn reader(&self) -> Reader {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let db = Connection::open_with_flags(&self.path, flags).expect("open the catalog");
        db.execute_batch(
            "PRAGMA mmap_size = 1073741824;
             PRAGMA locking_mode = EXCLUSIVE;",
        )
        .expect("configure the reader");
        Reader { db }
    }
}

/// The catalog's file name, before the process id.
const FILE_PREFIX: &str = "evacmap-tour-";

/// Deletes the catalogs of tours that were interrupted (Ctrl-C skips
/// `Drop`), where `/proc` can tell that their process is gone: each is
/// some 170 MiB, and a temporary directory may live in memory.
fn remove_leftovers() {
    let Ok(files) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for file in files.flatten() {
        let name = file.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(FILE_PREFIX)?.strip_suffix(".db"));
        if let Some(pid) = pid {
            let gone = Path::new("/proc/self").exists() && !Path::new("/proc").join(pid).exists();
            if gone {
                let _ = std::fs::remove_file(file.path());
            }
        }
    }
}

impl Drop for Catalog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One thread's read-only connection to the catalog.
pub struct Reader {
    db: Connection,
}

impl Reader {
    /// `SELECT`s one product by id: a B-tree descent in SQLite, through its
    /// page cache and the OS's. The statement is compiled once per
    /// connection (`prepare_cached`), as a real data layer would do.
    pub fn product(&self, id: u32) -> rusqlite::Result<Product> {
        self.db
            .prepare_cached(
                "SELECT name, category, price_cents, stock, description
                 FROM products WHERE id = ?1",
            )?
            .query_row([id], |row| {
                Ok(Product {
                    id,
                    name: row.get(0)?,
                    category: row.get(1)?,
                    price_cents: row.get(2)?,
                    stock: row.get(3)?,
                    description: row.get(4)?,
                })
            })
    }

    /// A category's ten cheapest products in stock, its "bargains" shelf.
    /// No index serves this query, so SQLite scans the whole table: some
    /// hundred milliseconds, where a product by id takes microseconds.
    pub fn bargains(&self, category: &str) -> rusqlite::Result<Vec<(u32, i64)>> {
        self.db
            .prepare_cached(
                "SELECT id, price_cents FROM products
                 WHERE category = ?1 AND stock > 0
                 ORDER BY price_cents LIMIT 10",
            )?
            .query_map([category], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect()
    }
}
