"""Operations: run events, alerts, the ops tables, run tracking, status, table maintenance."""
