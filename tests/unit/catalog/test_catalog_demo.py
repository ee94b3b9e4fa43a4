"""The demo catalogue: valid by the catalogue's own rules, realistic, and its forms usable."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from simpul.catalog.demo import demo_services
from simpul.catalog.rules import definition_errors

# One plausible submission per demo service, as a regional government would fill it in.
SAMPLES = {
    "IZIN-LN-KDH": {
        "nama": "Budi Santoso",
        "jabatan": "bupati",
        "kode_daerah": "33.74",
        "negara_tujuan": ["JP"],
        "kota_tujuan": ["Osaka"],
        "tanggal_berangkat": "2026-05-10",
        "tanggal_kembali": "2026-05-15",
        "jenis_perjalanan": "dinas",
        "tujuan_dinas": "promosi_investasi",
        "uraian_kegiatan": "Menghadiri forum promosi investasi daerah di Osaka atas undangan JETRO.",
        "sumber_biaya": "apbd",
        "kontak": {"nama": "Sri Wahyuni", "email": "protokol@semarangkab.go.id", "telepon": "+62 24 6921134"},
    },
    "FASILITASI-RANPERDA": {
        "kode_provinsi": "32",
        "judul_ranperda": "Rancangan Peraturan Daerah tentang Pajak Daerah dan Retribusi Daerah",
        "jenis_ranperda": "pajak_daerah_dan_retribusi_daerah",
        "prakarsa": "gubernur",
        "nomor_surat": "100.3.2/1234/Hukham",
        "tanggal_surat": "2026-02-03",
        "narahubung": {"nama": "Asep Saepudin", "jabatan": "Kepala Biro Hukum", "email": "biro.hukum@jabarprov.go.id",
                       "telepon": "022 4232448"},
    },
    "REKOM-PINJAMAN-DAERAH": {
        "kode_daerah": "16.71",
        "sumber_pinjaman": "pt_smi",
        "jangka_waktu": "menengah",
        "jumlah_pinjaman": 250_000_000_000,
        "tenor_bulan": 48,
        "peruntukan": "Pembangunan jalan lingkar dan drainase perkotaan Kota Palembang.",
        "apbd_tahun": 2026,
        "dscr": 3.1,
        "narahubung": {"nama": "Rahmat Hidayat", "email": "bpkad@palembang.go.id", "telepon": "0711 350000"},
    },
    "EVALUASI-RANPERDA-RPJMD": {
        "kode_provinsi": "63",
        "periode_awal": 2025,
        "periode_akhir": 2029,
        "tanggal_persetujuan_bersama": "2025-08-14",
        "visi": "Kalimantan Selatan maju, sejahtera dan berkelanjutan",
        "jumlah_misi": 5,
        "narahubung": {"nama": "Nur Aisyah", "email": "bappeda@kalselprov.go.id", "telepon": "0511 4772524"},
    },
}


def validator(schema):
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_there_are_at_least_three_sound_services_in_indonesian_and_english():
    services = demo_services()
    assert len(services) >= 3
    assert len({service.code for service in services}) == len(services)
    for service in services:
        assert definition_errors(service) == []
        assert service.name_en and service.name != service.name_en
        assert len(service.legal_basis) >= 2
        assert any("Undang-Undang" in basis for basis in service.legal_basis)
        assert service.requirements and any(r.required for r in service.requirements)
        for requirement in service.requirements:
            assert set(requirement.content_types) <= {"application/pdf", "image/jpeg", "image/png"}
        assert len(service.procedure) >= 3 and service.fee.currency == "IDR"
        assert service.form_schema["required"] and service.form_schema["additionalProperties"] is False


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_each_form_accepts_a_plausible_submission_and_refuses_a_broken_one(code):
    schema = next(service.form_schema for service in demo_services() if service.code == code)
    assert list(validator(schema).iter_errors(SAMPLES[code])) == []
    broken = dict(SAMPLES[code], tidak_dikenal=True)
    first_required = schema["required"][0]
    del broken[first_required]
    messages = [error.message for error in validator(schema).iter_errors(broken)]
    assert any(first_required in message for message in messages)
    assert any("tidak_dikenal" in message for message in messages)


def test_a_personal_trip_abroad_must_be_paid_privately():
    schema = next(service.form_schema for service in demo_services() if service.code == "IZIN-LN-KDH")
    trip = dict(SAMPLES["IZIN-LN-KDH"], jenis_perjalanan="pribadi", keperluan_pribadi="pengobatan")
    del trip["tujuan_dinas"]
    assert list(validator(schema).iter_errors(trip))
    assert list(validator(schema).iter_errors(dict(trip, sumber_biaya="pribadi"))) == []


def test_every_field_has_a_title_and_every_choice_a_title_for_each_value():
    """The issued document labels the data by these titles (and prints a choice by its title);
    `enum` stays beside the titled `oneOf` for the readers that list a field's values from it."""

    def fields(schema):
        for name, field in (schema.get("properties") or {}).items():
            yield name, field
            yield from fields(field)

    for service in demo_services():
        for name, field in fields(service.form_schema):
            assert field.get("title"), (service.code, name)
            if "enum" in field:
                assert [option["const"] for option in field["oneOf"]] == field["enum"], (service.code, name)
                assert all(option["title"] for option in field["oneOf"])
