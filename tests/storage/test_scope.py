"""What a person's scope lets them see in the operations view."""

from storage.scope import Scope


def test_a_department_manager_sees_only_their_department() -> None:
    hr = Scope.of(departments=["hr"])
    assert hr.sees("hr") and not hr.sees("legal")
    assert not hr.reads("hr"), "managing a department does not open its message text"
    assert hr.counts("hr") and not hr.counts("legal")
    assert hr.visible(["legal", "hr", "it"]) == ["hr"]


def test_an_admin_sees_every_department_but_reads_no_text() -> None:
    admin = Scope.of(admin=True)
    assert admin.sees("legal") and admin.sees_all and admin.counts_all
    assert not admin.reads("legal")


def test_an_analyst_counts_every_department_and_lists_none() -> None:
    analyst = Scope.of(reports=["*"])
    assert analyst.counts("legal") and analyst.counts_all
    assert not analyst.sees("legal") and not analyst.sees_all


def test_a_reader_reads_their_department_only() -> None:
    reader = Scope.of(departments=["hr"], transcripts=["hr"])
    assert reader.reads("hr") and not reader.reads("legal")
