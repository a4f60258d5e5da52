-- A done import's payments have landed or were rejected; the cross-file lookup finds the landed
-- ones among the transactions. From now on finalising an import releases its reservations
-- (payments_store::finalise_imports); release those of imports finalised before.
DELETE FROM payment_reservations r
 USING imports i
 WHERE r.import_id = i.id AND i.status = 'done';
