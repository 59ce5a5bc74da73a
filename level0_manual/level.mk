# Level 0's make targets. The repository's Makefile runs them with mk/common.mk; a project made
# from this level (make template) includes both in its own Makefile.
.PHONY: demo level0

demo: level0 ## Set up, generate the dataset and run level 0

level0: $(ENV) $(DATASET) ## Level 0: train by hand, hand over a joblib file (DATA=)
	$(RUN) -m level0_manual.train --data $(DATA) --out $(STATE)/level0_manual
