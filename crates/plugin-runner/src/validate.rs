//! Pre-validation of the plugin library from its bytes, before anything of it runs: the info
//! record (in its ELF section, found without loading) must describe a library of this ABI,
//! built for this target. This is the runner's own check of the file it is about to open; the
//! host made the same check on the same content-addressed copy.

use std::path::Path;

use tusk_plugin_abi::{self as abi, InfoRecord, TValue, fixed_text};

/// What the record says about the library, for messages.
pub(crate) struct Record {
    pub(crate) package: String,
    pub(crate) version: String,
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(offset..offset + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], offset: usize) -> Option<usize> {
    usize::try_from(u64::from_le_bytes(bytes.get(offset..offset + 8)?.try_into().ok()?)).ok()
}

fn u16_at(bytes: &[u8], offset: usize) -> Option<usize> {
    Some(u16::from_le_bytes(bytes.get(offset..offset + 2)?.try_into().ok()?) as usize)
}

/// `(offset, size)` of a named section in a 64-bit little-endian ELF file.
fn elf_section(bytes: &[u8], name: &str) -> Option<(usize, usize)> {
    if bytes.get(0..4)? != b"\x7fELF" || bytes.get(4)? != &2 || bytes.get(5)? != &1 {
        return None;
    }
    let section_table = u64_at(bytes, 0x28)?;
    let entry_size = u16_at(bytes, 0x3a)?;
    let count = u16_at(bytes, 0x3c)?;
    let names_index = u16_at(bytes, 0x3e)?;
    let header = |index: usize| section_table.checked_add(index.checked_mul(entry_size)?);
    let names_offset = u64_at(bytes, header(names_index)?.checked_add(0x18)?)?;
    for index in 0..count {
        let base = header(index)?;
        let name_offset = u32_at(bytes, base)? as usize;
        let start = names_offset.checked_add(name_offset)?;
        let end = start.checked_add(bytes.get(start..)?.iter().position(|&b| b == 0)?)?;
        if bytes.get(start..end)? == name.as_bytes() {
            return Some((u64_at(bytes, base.checked_add(0x18)?)?, u64_at(bytes, base.checked_add(0x20)?)?));
        }
    }
    None
}

/// Reads and checks the library's info record.
pub(crate) fn check(path: &Path) -> Result<Record, String> {
    if !path.is_absolute() {
        return Err(format!("the library path {} is not absolute", path.display()));
    }
    let bytes = std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let size = std::mem::size_of::<InfoRecord>();
    let start = elf_section(&bytes, ".tusk_plugin_info")
        .filter(|&(offset, length)| {
            length >= size && bytes.get(offset..offset.saturating_add(16)) == Some(&abi::INFO_MAGIC[..])
        })
        .map(|(offset, _)| offset)
        .ok_or_else(|| format!("{} is not a TuskLang plugin: it has no info record", path.display()))?;
    let record = bytes.get(start..start + size).ok_or_else(|| format!("{}: truncated info record", path.display()))?;
    let number = |index: usize| u32_at(record, 16 + 4 * index).unwrap_or(0);
    let text = |offset: usize, length: usize| fixed_text(&record[offset..offset + length]).to_string();
    let (record_size, abi_major, value_size, descriptor_size) = (number(0), number(1), number(3), number(4));
    let target = text(16 + 24 + 32 + 64 + 32, 32);
    let incompatible = |field: &str, found: String, expected: String| {
        Err(format!("{} is incompatible: its {field} is {found}, this runner expects {expected}", path.display()))
    };
    if abi_major != abi::ABI_MAJOR {
        return incompatible("plugin ABI version", abi_major.to_string(), abi::ABI_MAJOR.to_string());
    }
    if record_size as usize != size {
        return incompatible("info record size", record_size.to_string(), size.to_string());
    }
    if value_size as usize != std::mem::size_of::<TValue>() {
        return incompatible("value size", value_size.to_string(), std::mem::size_of::<TValue>().to_string());
    }
    if (descriptor_size as usize) < tusk_plugin_abi::MIN_DESCRIPTOR_SIZE {
        return incompatible(
            "descriptor size",
            descriptor_size.to_string(),
            format!("at least {}", tusk_plugin_abi::MIN_DESCRIPTOR_SIZE),
        );
    }
    let own_target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    if target != own_target {
        return incompatible("target", target, own_target);
    }
    Ok(Record { package: text(16 + 24 + 32, 64), version: text(16 + 24 + 32 + 64, 32) })
}
